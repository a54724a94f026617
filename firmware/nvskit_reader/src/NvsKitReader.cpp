// NvsKitReader: see NvsKitReader.h.
#include "NvsKitReader.h"

#include <cstring>

#if NVSKIT_READER_ENCRYPTION
#include "esp_partition.h"
#endif

namespace nvskit {

namespace {

// NVS keys and namespace names are at most 15 characters (16 bytes with the NUL).
constexpr size_t kMaxKeyLength = 15;

const char* hint(esp_err_t err) {
  switch (err) {
    case ESP_ERR_NVS_NOT_FOUND:
      return "no such namespace or key, or a different type (was the NVS image flashed?)";
    case ESP_ERR_NVS_NOT_INITIALIZED:
      return "partition not initialised: call begin() first";
    case ESP_ERR_NVS_PART_NOT_FOUND:
      return "partition not initialised (begin() not called or failed)";
    case ESP_ERR_NOT_FOUND:
      return "no partition with this label in the partition table";
    case ESP_ERR_NVS_NO_FREE_PAGES:
      return "partition has no free page: a read-only partition must be marked readonly in the "
             "partition table, or the image is bigger than the partition";
    case ESP_ERR_NVS_NEW_VERSION_FOUND:
      return "the image uses a newer NVS format than this firmware reads (generate with --version 1?)";
    case ESP_ERR_NVS_KEYS_NOT_INITIALIZED:
      return "the keys partition is empty: flash the keys file made by nvskit encrypt --keygen";
    case ESP_ERR_NVS_CORRUPT_KEY_PART:
      return "the keys partition is corrupt (CRC mismatch)";
    case ESP_ERR_NVS_INVALID_LENGTH:
      return "value changed size while being read";
    case ESP_ERR_NVS_KEY_TOO_LONG:
      return "keys and namespaces are at most 15 characters";
    case ESP_ERR_NOT_SUPPORTED:
      return "not supported in this build";
    default:
      return nullptr;
  }
}

}  // namespace

std::string errorName(esp_err_t err) {
  std::string s = esp_err_to_name(err);
  if (const char* h = hint(err)) {
    s += " (";
    s += h;
    s += ")";
  }
  return s;
}

Reader::Reader(const char* partition) : partition_(partition ? partition : "") {}

Status Reader::fail(esp_err_t err, const char* what, const char* ns, const char* key) const {
  std::string m = partition_;
  if (ns) {
    m += "/";
    m += ns;
  }
  if (key) {
    m += "/";
    m += key;
  }
  m += ": ";
  m += what;
  m += ": ";
  m += errorName(err);
  return Status::Error(err, std::move(m));
}

Status Reader::begin() {
  if (partition_.empty()) {
    return fail(ESP_ERR_INVALID_ARG, "empty partition label", nullptr, nullptr);
  }
  esp_err_t err = nvs_flash_init_partition(partition_.c_str());
  if (err != ESP_OK) {
    return fail(err, "nvs_flash_init_partition", nullptr, nullptr);
  }
  return Status::Ok();
}

Status Reader::beginEncrypted(const char* keysPartition) {
#if NVSKIT_READER_ENCRYPTION
  if (partition_.empty() || keysPartition == nullptr) {
    return fail(ESP_ERR_INVALID_ARG, "empty partition label", nullptr, nullptr);
  }
  const esp_partition_t* keys =
      esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_DATA_NVS_KEYS, keysPartition);
  if (keys == nullptr) {
    std::string m = partition_ + ": no data/nvs_keys partition labelled \"" + keysPartition +
                    "\" in the partition table";
    return Status::Error(ESP_ERR_NVS_PART_NOT_FOUND, std::move(m));
  }
  nvs_sec_cfg_t cfg;
  std::memset(&cfg, 0, sizeof cfg);
  esp_err_t err = nvs_flash_read_security_cfg(keys, &cfg);
  if (err != ESP_OK) {
    std::string what = std::string("nvs_flash_read_security_cfg(") + keysPartition + ")";
    return fail(err, what.c_str(), nullptr, nullptr);
  }
  err = nvs_flash_secure_init_partition(partition_.c_str(), &cfg);
  std::memset(&cfg, 0, sizeof cfg);  // do not leave the keys on the stack
  if (err != ESP_OK) {
    return fail(err, "nvs_flash_secure_init_partition", nullptr, nullptr);
  }
  return Status::Ok();
#else
  (void)keysPartition;
  return Status::Error(ESP_ERR_NOT_SUPPORTED,
                       partition_ + ": encrypted NVS is compiled out (NVSKIT_READER_ENCRYPTION=0)");
#endif
}

Status Reader::end() {
  esp_err_t err = nvs_flash_deinit_partition(partition_.c_str());
  if (err != ESP_OK) {
    return fail(err, "nvs_flash_deinit_partition", nullptr, nullptr);
  }
  return Status::Ok();
}

Status Reader::open(const char* ns, const char* key, nvs_handle_t* out) const {
  if (ns == nullptr || key == nullptr || *ns == '\0' || *key == '\0') {
    return fail(ESP_ERR_INVALID_ARG, "empty namespace or key", ns, key);
  }
  if (std::strlen(ns) > kMaxKeyLength || std::strlen(key) > kMaxKeyLength) {
    return fail(ESP_ERR_NVS_KEY_TOO_LONG, "name too long", ns, key);
  }
  esp_err_t err = nvs_open_from_partition(partition_.c_str(), ns, NVS_READONLY, out);
  if (err != ESP_OK) {
    return fail(err, "nvs_open_from_partition", ns, key);
  }
  return Status::Ok();
}

Result<std::string> Reader::readString(const char* ns, const char* key) const {
  nvs_handle_t h;
  if (Status st = open(ns, key, &h); !st) {
    return st;
  }
  // First ask for the length (it includes the NUL), then read into a buffer of that size.
  size_t len = 0;
  esp_err_t err = nvs_get_str(h, key, nullptr, &len);
  std::string s;
  if (err == ESP_OK && len > 0) {
    s.resize(len);
    err = nvs_get_str(h, key, &s[0], &len);
  }
  nvs_close(h);
  if (err != ESP_OK) {
    return fail(err, "nvs_get_str", ns, key);
  }
  // len is the stored size including the NUL; drop the NUL (and anything after an embedded one).
  s.resize(len > 0 ? len - 1 : 0);
  s.resize(std::strlen(s.c_str()));
  return s;
}

Result<std::vector<uint8_t>> Reader::readBlob(const char* ns, const char* key) const {
  nvs_handle_t h;
  if (Status st = open(ns, key, &h); !st) {
    return st;
  }
  size_t len = 0;
  esp_err_t err = nvs_get_blob(h, key, nullptr, &len);
  std::vector<uint8_t> v;
  if (err == ESP_OK && len > 0) {
    v.resize(len);
    err = nvs_get_blob(h, key, v.data(), &len);
  }
  nvs_close(h);
  if (err != ESP_OK) {
    return fail(err, "nvs_get_blob", ns, key);
  }
  v.resize(len);
  return v;
}

Result<std::string> Reader::readBlobAsString(const char* ns, const char* key) const {
  Result<std::vector<uint8_t>> r = readBlob(ns, key);
  if (!r) {
    return r.status();
  }
  const std::vector<uint8_t>& v = r.value();
  return std::string(v.begin(), v.end());
}

template <typename T, typename Get>
Result<T> Reader::readScalar(const char* ns, const char* key, const char* fn, Get get) const {
  nvs_handle_t h;
  if (Status st = open(ns, key, &h); !st) {
    return st;
  }
  T v{};
  esp_err_t err = get(h, key, &v);
  nvs_close(h);
  if (err != ESP_OK) {
    return fail(err, fn, ns, key);
  }
  return v;
}

Result<uint8_t> Reader::readU8(const char* ns, const char* key) const {
  return readScalar<uint8_t>(ns, key, "nvs_get_u8", nvs_get_u8);
}
Result<int8_t> Reader::readI8(const char* ns, const char* key) const {
  return readScalar<int8_t>(ns, key, "nvs_get_i8", nvs_get_i8);
}
Result<uint16_t> Reader::readU16(const char* ns, const char* key) const {
  return readScalar<uint16_t>(ns, key, "nvs_get_u16", nvs_get_u16);
}
Result<int16_t> Reader::readI16(const char* ns, const char* key) const {
  return readScalar<int16_t>(ns, key, "nvs_get_i16", nvs_get_i16);
}
Result<uint32_t> Reader::readU32(const char* ns, const char* key) const {
  return readScalar<uint32_t>(ns, key, "nvs_get_u32", nvs_get_u32);
}
Result<int32_t> Reader::readI32(const char* ns, const char* key) const {
  return readScalar<int32_t>(ns, key, "nvs_get_i32", nvs_get_i32);
}
Result<uint64_t> Reader::readU64(const char* ns, const char* key) const {
  return readScalar<uint64_t>(ns, key, "nvs_get_u64", nvs_get_u64);
}
Result<int64_t> Reader::readI64(const char* ns, const char* key) const {
  return readScalar<int64_t>(ns, key, "nvs_get_i64", nvs_get_i64);
}

}  // namespace nvskit
