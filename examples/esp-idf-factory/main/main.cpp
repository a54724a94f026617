// nvskit example: read per-device factory data from the encrypted, read-only "fctry" NVS
// partition; keep the app's own data in "nvs", which a factory reset erases.
//
// Factory reset: hold the BOOT button (GPIO0) while the board starts. "nvs" is erased and
// re-created empty; "fctry" and "nvs_keys" are untouched, so the device keeps its identity.
#include <cinttypes>
#include <cstdio>
#include <string>

#include "NvsKitReader.h"
#include "driver/gpio.h"
#include "esp_log.h"
#include "nvs.h"
#include "nvs_flash.h"

namespace {

constexpr const char* TAG = "factory-example";
constexpr gpio_num_t kResetButton = GPIO_NUM_0;

struct Identity {
  std::string serial;
  uint8_t hwRev = 0;
  std::string mqttHost;
  std::string cert;
  std::string privKey;
  std::string caCert;
};

// loadIdentity reads the factory data; the first error is returned with its message.
nvskit::Status loadIdentity(const nvskit::Reader& fctry, Identity* id) {
  constexpr const char* ns = "device";
  auto serial = fctry.readString(ns, "serial");
  if (!serial) return serial.status();
  auto hw = fctry.readU8(ns, "hw_rev");
  if (!hw) return hw.status();
  auto host = fctry.readString(ns, "mqtt_host");
  if (!host) return host.status();
  auto cert = fctry.readString(ns, "cert");
  if (!cert) return cert.status();
  auto key = fctry.readString(ns, "priv_key");
  if (!key) return key.status();
  auto ca = fctry.readString(ns, "ca_cert");
  if (!ca) return ca.status();
  id->serial = serial.take();
  id->hwRev = hw.value();
  id->mqttHost = host.take();
  id->cert = cert.take();
  id->privKey = key.take();
  id->caCert = ca.take();
  return nvskit::Status::Ok();
}

bool resetButtonHeld() {
  gpio_config_t io = {};
  io.pin_bit_mask = 1ULL << kResetButton;
  io.mode = GPIO_MODE_INPUT;
  io.pull_up_en = GPIO_PULLUP_ENABLE;
  gpio_config(&io);
  return gpio_get_level(kResetButton) == 0;
}

// initAppNvs mounts the app's "nvs" partition. With CONFIG_NVS_ENCRYPTION, nvs_flash_init()
// encrypts it with the keys in nvs_keys, the same per-device keys as fctry.
esp_err_t initAppNvs(bool factoryReset) {
  if (factoryReset) {
    ESP_LOGW(TAG, "factory reset: erasing the nvs partition (fctry is kept)");
    esp_err_t err = nvs_flash_erase_partition("nvs");
    if (err != ESP_OK) return err;
  }
  esp_err_t err = nvs_flash_init();
  if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
    // The app's own data only: erasing it is allowed. Never do this to fctry.
    ESP_ERROR_CHECK(nvs_flash_erase_partition("nvs"));
    err = nvs_flash_init();
  }
  return err;
}

uint32_t countBoot() {
  nvs_handle_t h;
  uint32_t boots = 0;
  if (nvs_open("app", NVS_READWRITE, &h) != ESP_OK) return 0;
  nvs_get_u32(h, "boots", &boots);  // ESP_ERR_NVS_NOT_FOUND on the first boot: stays 0
  boots++;
  nvs_set_u32(h, "boots", boots);
  nvs_commit(h);
  nvs_close(h);
  return boots;
}

}  // namespace

extern "C" void app_main(void) {
  // 1. Factory data: read-only, encrypted with the keys in nvs_keys. Never erased, never written.
  nvskit::Reader fctry("fctry");
  if (nvskit::Status st = fctry.beginEncrypted("nvs_keys"); !st) {
    ESP_LOGE(TAG, "factory data unavailable: %s", st.message());
    return;
  }
  Identity id;
  if (nvskit::Status st = loadIdentity(fctry, &id); !st) {
    ESP_LOGE(TAG, "factory data incomplete: %s", st.message());
    return;
  }
  ESP_LOGI(TAG, "device %s, hardware rev %u, broker %s", id.serial.c_str(), id.hwRev, id.mqttHost.c_str());
  ESP_LOGI(TAG, "certificate %u bytes, key %u bytes, CA %u bytes", static_cast<unsigned>(id.cert.size()),
           static_cast<unsigned>(id.privKey.size()), static_cast<unsigned>(id.caCert.size()));

  // 2. The app's own settings in "nvs", erasable by a factory reset.
  if (esp_err_t err = initAppNvs(resetButtonHeld()); err != ESP_OK) {
    ESP_LOGE(TAG, "nvs: %s", esp_err_to_name(err));
    return;
  }
  ESP_LOGI(TAG, "boot %" PRIu32 " since the last factory reset", countBoot());

  // 3. From here the app would connect to id.mqttHost with id.cert / id.privKey / id.caCert
  //    (esp-mqtt: esp_mqtt_client_config_t.credentials / .broker.verification).
}
