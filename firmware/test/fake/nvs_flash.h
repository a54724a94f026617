// Host fake of ESP-IDF's nvs_flash.h: partition init and the encryption keys.
#pragma once
#include <stdint.h>

#include "esp_err.h"
#include "esp_partition.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NVS_KEY_SIZE 32
typedef struct {
  uint8_t eky[NVS_KEY_SIZE];
  uint8_t tky[NVS_KEY_SIZE];
} nvs_sec_cfg_t;

esp_err_t nvs_flash_init_partition(const char* partition_label);
// Declared only for the compile check of the examples (test/stubs); not implemented by the fake.
esp_err_t nvs_flash_init(void);
esp_err_t nvs_flash_erase_partition(const char* part_name);
esp_err_t nvs_flash_deinit_partition(const char* partition_label);
esp_err_t nvs_flash_read_security_cfg(const esp_partition_t* partition, nvs_sec_cfg_t* cfg);
esp_err_t nvs_flash_secure_init_partition(const char* partition_label, nvs_sec_cfg_t* cfg);

#ifdef __cplusplus
}
#endif
