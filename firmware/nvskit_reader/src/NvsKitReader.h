// NvsKitReader: read values from a named NVS partition, plain or encrypted, with errors returned.
//
// One header and one source file shared by the ESP-IDF component (CMakeLists.txt,
// idf_component.yml) and the Arduino library (library.properties). C++17, no exceptions, no
// logging: every failure comes back as an esp_err_t plus a message that names the partition,
// namespace and key, for the caller to print, retry or ignore.
//
//   nvskit::Reader nvs("fctry");
//   if (auto st = nvs.beginEncrypted("nvs_keys"); !st) { ESP_LOGE(TAG, "%s", st.message()); ... }
//   auto cert = nvs.readString("certs", "device_cert");
//   if (!cert) { ESP_LOGE(TAG, "%s", cert.message()); ... }
//   use(cert.value());
#pragma once

#if __cplusplus < 201703L
#error "NvsKitReader needs C++17. Arduino-ESP32 2.x builds with -std=gnu++11: in platformio.ini add build_unflags = -std=gnu++11 and build_flags = -std=gnu++17"
#endif

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "esp_err.h"
#include "nvs.h"
#include "nvs_flash.h"

// NVSKIT_READER_ENCRYPTION selects whether beginEncrypted is compiled in (it needs the IDF's NVS
// encryption support: nvs_flash_read_security_cfg and nvs_flash_secure_init_partition). Default 1;
// define it to 0 for an SDK built without NVS encryption, where beginEncrypted then returns
// ESP_ERR_NOT_SUPPORTED.
#ifndef NVSKIT_READER_ENCRYPTION
#define NVSKIT_READER_ENCRYPTION 1
#endif

namespace nvskit {

/// Status is the outcome of an operation that has no value: ESP_OK, or an error code and a message.
class Status {
 public:
  /// Ok returns the success status.
  static Status Ok() { return Status(); }
  /// Error returns a failure with code (never ESP_OK) and a message for people.
  static Status Error(esp_err_t code, std::string message) {
    return Status(code == ESP_OK ? ESP_FAIL : code, std::move(message));
  }

  /// ok reports success.
  bool ok() const { return code_ == ESP_OK; }
  explicit operator bool() const { return ok(); }
  /// code is ESP_OK or the esp_err_t of the failure (ESP_ERR_NVS_NOT_FOUND, ...).
  esp_err_t code() const { return code_; }
  /// message describes the failure ("" on success), e.g.
  /// "fctry/certs/device_cert: ESP_ERR_NVS_NOT_FOUND (no such key)".
  const char* message() const { return message_.c_str(); }

 private:
  Status() = default;
  Status(esp_err_t code, std::string message) : code_(code), message_(std::move(message)) {}
  esp_err_t code_ = ESP_OK;
  std::string message_;
};

/// Result holds either a value of type T or an error (code and message).
template <typename T>
class Result {
 public:
  /// Result from a value: success.
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit on purpose
  /// Result from a failed Status: failure.
  Result(Status error) : status_(std::move(error)) {}  // NOLINT: implicit on purpose

  bool ok() const { return status_.ok(); }
  explicit operator bool() const { return ok(); }
  esp_err_t code() const { return status_.code(); }
  const char* message() const { return status_.message(); }
  const Status& status() const { return status_; }
  /// value is the value; on failure it is T's default value (never undefined behaviour).
  const T& value() const& { return value_; }
  /// take moves the value out.
  T take() { return std::move(value_); }
  /// valueOr returns the value, or fallback on failure.
  T valueOr(T fallback) const { return ok() ? value_ : fallback; }

 private:
  T value_{};
  Status status_ = Status::Ok();
};

/// Reader reads one NVS partition. It does not own the partition's initialisation beyond begin*
/// and end: several Readers (or the Arduino core, which initialises "nvs") may share a partition.
class Reader {
 public:
  /// Reader for the NVS partition with this label ("nvs", "fctry", ...). The label is copied.
  explicit Reader(const char* partition = "nvs");

  /// begin initialises a plain (unencrypted) partition. It never erases: a partition that fails
  /// to mount (no free pages, newer format) is reported, since erasing would destroy the
  /// provisioned data. Safe to call when the partition is already initialised.
  Status begin();

  /// beginEncrypted reads the XTS keys from the keys partition with label keysPartition (type
  /// data, subtype nvs_keys, marked encrypted in the partition table) and initialises the
  /// partition with them. It never generates keys: keys that do not exist mean the keys image
  /// was not flashed, which is reported as ESP_ERR_NVS_KEYS_NOT_INITIALIZED.
  Status beginEncrypted(const char* keysPartition = "nvs_keys");

  /// end de-initialises the partition (nvs_flash_deinit_partition).
  Status end();

  /// partition returns the label given to the constructor.
  const char* partition() const { return partition_.c_str(); }

  /// readString reads a string value (CSV encoding "string"), without its terminating NUL.
  Result<std::string> readString(const char* ns, const char* key) const;
  /// readBlob reads a blob value (CSV encodings binary, hex2bin, base64, file rows of those).
  Result<std::vector<uint8_t>> readBlob(const char* ns, const char* key) const;
  /// readBlobAsString reads a blob into a std::string (for PEM files stored as binary).
  Result<std::string> readBlobAsString(const char* ns, const char* key) const;

  Result<uint8_t> readU8(const char* ns, const char* key) const;
  Result<int8_t> readI8(const char* ns, const char* key) const;
  Result<uint16_t> readU16(const char* ns, const char* key) const;
  Result<int16_t> readI16(const char* ns, const char* key) const;
  Result<uint32_t> readU32(const char* ns, const char* key) const;
  Result<int32_t> readI32(const char* ns, const char* key) const;
  Result<uint64_t> readU64(const char* ns, const char* key) const;
  Result<int64_t> readI64(const char* ns, const char* key) const;

 private:
  template <typename T, typename Get>
  Result<T> readScalar(const char* ns, const char* key, const char* fn, Get get) const;
  Status open(const char* ns, const char* key, nvs_handle_t* out) const;
  Status fail(esp_err_t err, const char* what, const char* ns, const char* key) const;

  std::string partition_;
};

/// errorName returns esp_err_to_name(err) plus a short hint for the NVS codes a reader meets.
std::string errorName(esp_err_t err);

}  // namespace nvskit
