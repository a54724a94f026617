// In-memory fake of the part of the ESP-IDF NVS API that NvsKitReader uses. It follows the IDF's
// documented behaviour for the read side: init of an already-initialised partition is ESP_OK,
// reading with a NULL buffer returns the length (strings include the NUL), a too-small buffer is
// ESP_ERR_NVS_INVALID_LENGTH with the needed length written back, a missing key, missing
// namespace (read-only open) or a value of another type is ESP_ERR_NVS_NOT_FOUND.
#include "fake_nvs.h"

#include <cstring>
#include <map>

#include "esp_partition.h"
#include "nvs.h"

namespace {

enum Type : uint8_t {
  U8 = 0x01, I8 = 0x11, U16 = 0x02, I16 = 0x12, U32 = 0x04, I32 = 0x14, U64 = 0x08, I64 = 0x18,
  SZ = 0x21, BLOB = 0x42,
};

struct Value {
  Type type;
  std::vector<uint8_t> bytes;  // little-endian scalar, string with its NUL, or blob
};

struct Partition {
  bool encrypted = false;
  nvs_sec_cfg_t keys{};
  bool initialized = false;
  bool readable = false;  // initialised with the right keys (or plain)
  esp_err_t initError = ESP_OK;
  std::map<std::string, std::map<std::string, Value>> ns;
};

struct KeysPartition {
  esp_partition_t part{};
  nvs_sec_cfg_t cfg{};
  fake_nvs::KeysState state = fake_nvs::KeysState::Ok;
};

struct Handle {
  std::string part, ns;
};

struct Replacement {
  std::string part, ns, key, value;
  bool pending = false;
};

std::map<std::string, Partition> partitions;
std::map<std::string, KeysPartition> keyParts;
std::map<nvs_handle_t, Handle> handles;
std::map<std::string, esp_err_t> faults;
Replacement replacement;
nvs_handle_t nextHandle = 1;
int sizeQueryCount = 0;

bool fault(const char* fn, esp_err_t* err) {
  auto it = faults.find(fn);
  if (it == faults.end()) return false;
  *err = it->second;
  faults.erase(it);
  return true;
}

template <typename T>
std::vector<uint8_t> le(T v) {
  std::vector<uint8_t> b(sizeof(T));
  std::memcpy(b.data(), &v, sizeof(T));  // the host is little-endian like the ESP32
  return b;
}

void put(const std::string& part, const std::string& ns, const std::string& key, Type t, std::vector<uint8_t> b) {
  partitions[part].ns[ns][key] = Value{t, std::move(b)};
}

// find looks a key up through a handle, as the IDF does: by key and type.
esp_err_t find(nvs_handle_t h, const char* key, Type t, Value** out, Handle** hp = nullptr) {
  auto hit = handles.find(h);
  if (hit == handles.end()) return ESP_ERR_NVS_INVALID_HANDLE;
  if (key == nullptr) return ESP_ERR_NVS_INVALID_NAME;
  if (std::strlen(key) > 15) return ESP_ERR_NVS_KEY_TOO_LONG;
  Partition& p = partitions[hit->second.part];
  if (!p.readable) return ESP_ERR_NVS_NOT_FOUND;  // entries decrypt to garbage: CRC fails
  auto& kv = p.ns[hit->second.ns];
  auto it = kv.find(key);
  if (it == kv.end() || it->second.type != t) return ESP_ERR_NVS_NOT_FOUND;
  *out = &it->second;
  if (hp) *hp = &hit->second;
  return ESP_OK;
}

template <typename T>
esp_err_t getScalar(const char* fn, nvs_handle_t h, const char* key, Type t, T* out) {
  esp_err_t err;
  if (fault(fn, &err)) return err;
  if (out == nullptr) return ESP_ERR_INVALID_ARG;
  Value* v;
  if ((err = find(h, key, t, &v)) != ESP_OK) return err;
  std::memcpy(out, v->bytes.data(), sizeof(T));
  return ESP_OK;
}

esp_err_t getVar(const char* fn, nvs_handle_t h, const char* key, Type t, void* out, size_t* length) {
  esp_err_t err;
  if (fault(fn, &err)) return err;
  if (length == nullptr) return ESP_ERR_INVALID_ARG;
  Value* v;
  Handle* hd;
  if ((err = find(h, key, t, &v, &hd)) != ESP_OK) return err;
  size_t size = v->bytes.size();
  if (out == nullptr) {
    *length = size;
    sizeQueryCount++;
    Replacement& r = replacement;
    if (r.pending && r.part == hd->part && r.ns == hd->ns && r.key == key) {
      r.pending = false;
      std::vector<uint8_t> b(r.value.begin(), r.value.end());
      if (t == SZ) b.push_back(0);
      v->bytes = std::move(b);
    }
    return ESP_OK;
  }
  if (*length < size) {
    *length = size;
    return ESP_ERR_NVS_INVALID_LENGTH;
  }
  std::memcpy(out, v->bytes.data(), size);
  *length = size;
  return ESP_OK;
}

bool sameKeys(const nvs_sec_cfg_t& a, const nvs_sec_cfg_t& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

namespace fake_nvs {

void reset() {
  partitions.clear();
  keyParts.clear();
  handles.clear();
  faults.clear();
  replacement = Replacement{};
  nextHandle = 1;
  sizeQueryCount = 0;
}

void addPartition(const std::string& label, const nvs_sec_cfg_t* keys) {
  Partition& p = partitions[label];
  p.encrypted = keys != nullptr;
  if (keys) p.keys = *keys;
}

void setInitError(const std::string& label, esp_err_t err) { partitions[label].initError = err; }

void addKeysPartition(const std::string& label, const nvs_sec_cfg_t& cfg, KeysState state) {
  KeysPartition& k = keyParts[label];
  k.part.type = ESP_PARTITION_TYPE_DATA;
  k.part.subtype = ESP_PARTITION_SUBTYPE_DATA_NVS_KEYS;
  k.part.size = 0x1000;
  std::strncpy(k.part.label, label.c_str(), sizeof k.part.label - 1);
  k.part.encrypted = true;
  k.cfg = cfg;
  k.state = state;
}

void putString(const std::string& part, const std::string& ns, const std::string& key, const std::string& value) {
  std::vector<uint8_t> b(value.begin(), value.end());
  b.push_back(0);
  put(part, ns, key, SZ, std::move(b));
}
void putBlob(const std::string& part, const std::string& ns, const std::string& key, const std::vector<uint8_t>& value) {
  put(part, ns, key, BLOB, value);
}
void putU8(const std::string& p, const std::string& n, const std::string& k, uint8_t v) { put(p, n, k, U8, le(v)); }
void putI8(const std::string& p, const std::string& n, const std::string& k, int8_t v) { put(p, n, k, I8, le(v)); }
void putU16(const std::string& p, const std::string& n, const std::string& k, uint16_t v) { put(p, n, k, U16, le(v)); }
void putI16(const std::string& p, const std::string& n, const std::string& k, int16_t v) { put(p, n, k, I16, le(v)); }
void putU32(const std::string& p, const std::string& n, const std::string& k, uint32_t v) { put(p, n, k, U32, le(v)); }
void putI32(const std::string& p, const std::string& n, const std::string& k, int32_t v) { put(p, n, k, I32, le(v)); }
void putU64(const std::string& p, const std::string& n, const std::string& k, uint64_t v) { put(p, n, k, U64, le(v)); }
void putI64(const std::string& p, const std::string& n, const std::string& k, int64_t v) { put(p, n, k, I64, le(v)); }

void replaceAfterSizeQuery(const std::string& part, const std::string& ns, const std::string& key,
                           const std::string& value) {
  replacement = Replacement{part, ns, key, value, true};
}

void failNext(const std::string& function, esp_err_t err) { faults[function] = err; }

int openHandles() { return static_cast<int>(handles.size()); }

bool isInitialized(const std::string& label) {
  auto it = partitions.find(label);
  return it != partitions.end() && it->second.initialized;
}

int sizeQueries() { return sizeQueryCount; }

}  // namespace fake_nvs

extern "C" {

const char* esp_err_to_name(esp_err_t code) {
  switch (code) {
#define NAME(c) \
  case c:       \
    return #c;
    NAME(ESP_OK)
    NAME(ESP_FAIL)
    NAME(ESP_ERR_NO_MEM)
    NAME(ESP_ERR_INVALID_ARG)
    NAME(ESP_ERR_INVALID_STATE)
    NAME(ESP_ERR_NOT_FOUND)
    NAME(ESP_ERR_NOT_SUPPORTED)
    NAME(ESP_ERR_NVS_NOT_INITIALIZED)
    NAME(ESP_ERR_NVS_NOT_FOUND)
    NAME(ESP_ERR_NVS_TYPE_MISMATCH)
    NAME(ESP_ERR_NVS_READ_ONLY)
    NAME(ESP_ERR_NVS_INVALID_NAME)
    NAME(ESP_ERR_NVS_INVALID_HANDLE)
    NAME(ESP_ERR_NVS_KEY_TOO_LONG)
    NAME(ESP_ERR_NVS_INVALID_LENGTH)
    NAME(ESP_ERR_NVS_NO_FREE_PAGES)
    NAME(ESP_ERR_NVS_PART_NOT_FOUND)
    NAME(ESP_ERR_NVS_NEW_VERSION_FOUND)
    NAME(ESP_ERR_NVS_XTS_CFG_NOT_FOUND)
    NAME(ESP_ERR_NVS_ENCR_NOT_SUPPORTED)
    NAME(ESP_ERR_NVS_KEYS_NOT_INITIALIZED)
    NAME(ESP_ERR_NVS_CORRUPT_KEY_PART)
#undef NAME
    default:
      return "UNKNOWN ERROR";
  }
}

const esp_partition_t* esp_partition_find_first(esp_partition_type_t type, esp_partition_subtype_t subtype,
                                                const char* label) {
  if (type != ESP_PARTITION_TYPE_DATA || subtype != ESP_PARTITION_SUBTYPE_DATA_NVS_KEYS || label == nullptr) {
    return nullptr;
  }
  auto it = keyParts.find(label);
  return it == keyParts.end() ? nullptr : &it->second.part;
}

static esp_err_t initPartition(const char* label, const nvs_sec_cfg_t* cfg) {
  if (label == nullptr) return ESP_ERR_INVALID_ARG;
  auto it = partitions.find(label);
  if (it == partitions.end()) return ESP_ERR_NOT_FOUND;  // IDF: no partition with this label
  Partition& p = it->second;
  if (p.initialized) return ESP_OK;  // IDF: already initialised, nothing changes
  if (p.initError != ESP_OK) return p.initError;
  p.initialized = true;
  p.readable = p.encrypted ? (cfg != nullptr && sameKeys(*cfg, p.keys)) : cfg == nullptr;
  return ESP_OK;
}

esp_err_t nvs_flash_init_partition(const char* label) {
  esp_err_t err;
  if (fault("nvs_flash_init_partition", &err)) return err;
  return initPartition(label, nullptr);
}

esp_err_t nvs_flash_secure_init_partition(const char* label, nvs_sec_cfg_t* cfg) {
  esp_err_t err;
  if (fault("nvs_flash_secure_init_partition", &err)) return err;
  return initPartition(label, cfg);
}

esp_err_t nvs_flash_deinit_partition(const char* label) {
  esp_err_t err;
  if (fault("nvs_flash_deinit_partition", &err)) return err;
  auto it = label ? partitions.find(label) : partitions.end();
  if (it == partitions.end() || !it->second.initialized) return ESP_ERR_NVS_NOT_INITIALIZED;
  it->second.initialized = it->second.readable = false;
  return ESP_OK;
}

esp_err_t nvs_flash_read_security_cfg(const esp_partition_t* partition, nvs_sec_cfg_t* cfg) {
  esp_err_t err;
  if (fault("nvs_flash_read_security_cfg", &err)) return err;
  if (partition == nullptr || cfg == nullptr) return ESP_ERR_INVALID_ARG;
  auto it = keyParts.find(partition->label);
  if (it == keyParts.end()) return ESP_ERR_INVALID_ARG;
  switch (it->second.state) {
    case fake_nvs::KeysState::Empty:
      return ESP_ERR_NVS_KEYS_NOT_INITIALIZED;
    case fake_nvs::KeysState::Corrupt:
      return ESP_ERR_NVS_CORRUPT_KEY_PART;
    case fake_nvs::KeysState::Ok:
      break;
  }
  *cfg = it->second.cfg;
  return ESP_OK;
}

esp_err_t nvs_open_from_partition(const char* part_name, const char* namespace_name, nvs_open_mode_t open_mode,
                                  nvs_handle_t* out_handle) {
  esp_err_t err;
  if (fault("nvs_open_from_partition", &err)) return err;
  if (part_name == nullptr || namespace_name == nullptr || out_handle == nullptr) return ESP_ERR_INVALID_ARG;
  if (std::strlen(namespace_name) > 15) return ESP_ERR_NVS_KEY_TOO_LONG;
  auto it = partitions.find(part_name);
  if (it == partitions.end() || !it->second.initialized) return ESP_ERR_NVS_PART_NOT_FOUND;
  Partition& p = it->second;
  if (open_mode == NVS_READONLY && (!p.readable || p.ns.find(namespace_name) == p.ns.end())) {
    return ESP_ERR_NVS_NOT_FOUND;
  }
  nvs_handle_t h = nextHandle++;
  handles[h] = Handle{part_name, namespace_name};
  *out_handle = h;
  return ESP_OK;
}

void nvs_close(nvs_handle_t handle) { handles.erase(handle); }

esp_err_t nvs_get_i8(nvs_handle_t h, const char* key, int8_t* out) { return getScalar("nvs_get_i8", h, key, I8, out); }
esp_err_t nvs_get_u8(nvs_handle_t h, const char* key, uint8_t* out) { return getScalar("nvs_get_u8", h, key, U8, out); }
esp_err_t nvs_get_i16(nvs_handle_t h, const char* key, int16_t* out) { return getScalar("nvs_get_i16", h, key, I16, out); }
esp_err_t nvs_get_u16(nvs_handle_t h, const char* key, uint16_t* out) { return getScalar("nvs_get_u16", h, key, U16, out); }
esp_err_t nvs_get_i32(nvs_handle_t h, const char* key, int32_t* out) { return getScalar("nvs_get_i32", h, key, I32, out); }
esp_err_t nvs_get_u32(nvs_handle_t h, const char* key, uint32_t* out) { return getScalar("nvs_get_u32", h, key, U32, out); }
esp_err_t nvs_get_i64(nvs_handle_t h, const char* key, int64_t* out) { return getScalar("nvs_get_i64", h, key, I64, out); }
esp_err_t nvs_get_u64(nvs_handle_t h, const char* key, uint64_t* out) { return getScalar("nvs_get_u64", h, key, U64, out); }

esp_err_t nvs_get_str(nvs_handle_t h, const char* key, char* out, size_t* length) {
  return getVar("nvs_get_str", h, key, SZ, out, length);
}

esp_err_t nvs_get_blob(nvs_handle_t h, const char* key, void* out, size_t* length) {
  return getVar("nvs_get_blob", h, key, BLOB, out, length);
}

}  // extern "C"
