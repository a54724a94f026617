// Control API of the in-memory NVS fake: tests build partitions, keys partitions and faults here,
// then exercise code that only sees the IDF headers (nvs.h, nvs_flash.h, esp_partition.h).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <string>
#include <vector>

#include "esp_err.h"
#include "nvs_flash.h"

namespace fake_nvs {

// reset forgets every partition, keys partition, handle and fault.
void reset();

// addPartition declares an NVS partition in the partition table. If keys is non-null the image
// on it is encrypted with those keys: it reads correctly only after nvs_flash_secure_init_partition
// with the same keys (with other keys, or plain init, every entry fails its CRC and reads as not found).
void addPartition(const std::string& label, const nvs_sec_cfg_t* keys = nullptr);
// setInitError makes nvs_flash_init_partition / nvs_flash_secure_init_partition of label fail.
void setInitError(const std::string& label, esp_err_t err);

enum class KeysState { Ok, Empty, Corrupt };
// addKeysPartition declares a data/nvs_keys partition holding cfg (or empty or corrupt).
void addKeysPartition(const std::string& label, const nvs_sec_cfg_t& cfg, KeysState state = KeysState::Ok);

// put* store a value as the image would, by NVS item type.
void putString(const std::string& part, const std::string& ns, const std::string& key, const std::string& value);
void putBlob(const std::string& part, const std::string& ns, const std::string& key, const std::vector<uint8_t>& value);
void putU8(const std::string& part, const std::string& ns, const std::string& key, uint8_t v);
void putI8(const std::string& part, const std::string& ns, const std::string& key, int8_t v);
void putU16(const std::string& part, const std::string& ns, const std::string& key, uint16_t v);
void putI16(const std::string& part, const std::string& ns, const std::string& key, int16_t v);
void putU32(const std::string& part, const std::string& ns, const std::string& key, uint32_t v);
void putI32(const std::string& part, const std::string& ns, const std::string& key, int32_t v);
void putU64(const std::string& part, const std::string& ns, const std::string& key, uint64_t v);
void putI64(const std::string& part, const std::string& ns, const std::string& key, int64_t v);

// replaceAfterSizeQuery: the first time a length query (NULL buffer) is made for part/ns/key, the
// stored string or blob is replaced by value right after answering, as a concurrent writer would.
void replaceAfterSizeQuery(const std::string& part, const std::string& ns, const std::string& key,
                           const std::string& value);

// failNext makes the next call of the named API function (e.g. "nvs_open_from_partition") return err.
void failNext(const std::string& function, esp_err_t err);

// openHandles is the number of handles opened and not yet closed.
int openHandles();
// isInitialized reports whether label is initialised, and whether with the right keys.
bool isInitialized(const std::string& label);
// sizeQueries counts nvs_get_str/nvs_get_blob calls made with a NULL buffer.
int sizeQueries();

}  // namespace fake_nvs
