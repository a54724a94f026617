// nvskit example: load the AWS IoT configuration and credentials from NVS and publish over MQTT/TLS.
//
// The NVS image comes from certificates/nvs.csv, made at build time by nvskit (see
// platformio.ini) and flashed after the firmware. Nothing secret is compiled into the firmware.
#include <Arduino.h>
#include <ArduinoJson.h>
#include <NvsKitReader.h>
#include <PubSubClient.h>
#include <WiFi.h>
#include <WiFiClientSecure.h>

#include <string>

namespace {

constexpr const char* kNamespace = "certs";

struct Config {
  std::string wifiSsid;
  std::string wifiPassword;
  std::string mqttHost;
  uint16_t mqttPort = 8883;
  std::string thingName;
  std::string topic;
};

// The credentials must outlive the TLS client: setCACert and friends keep the pointers.
struct Credentials {
  std::string rootCa;
  std::string deviceCert;
  std::string privateKey;
};

nvskit::Reader nvs("nvs");
Config config;
Credentials creds;
WiFiClientSecure net;
PubSubClient mqtt(net);

// halt reports a fatal error once and stops: without credentials there is nothing to do.
[[noreturn]] void halt(const char* what, const char* message) {
  Serial.printf("FATAL: %s: %s\n", what, message);
  for (;;) {
    delay(1000);
  }
}

// loadConfig parses certs/config (config.json) into config.
nvskit::Status loadConfig() {
  auto json = nvs.readString(kNamespace, "config");
  if (!json) {
    return json.status();
  }
  JsonDocument doc;
  DeserializationError err = deserializeJson(doc, json.value());
  if (err) {
    return nvskit::Status::Error(ESP_ERR_INVALID_ARG, std::string("certs/config: invalid JSON: ") + err.c_str());
  }
  config.wifiSsid = doc["wifi_ssid"] | "";
  config.wifiPassword = doc["wifi_password"] | "";
  config.mqttHost = doc["mqtt_host"] | "";
  config.mqttPort = doc["mqtt_port"] | 8883;
  config.thingName = doc["thing_name"] | "";
  config.topic = doc["topic"] | "";
  if (config.wifiSsid.empty() || config.mqttHost.empty() || config.thingName.empty()) {
    return nvskit::Status::Error(ESP_ERR_INVALID_ARG,
                                 "certs/config: wifi_ssid, mqtt_host and thing_name are required");
  }
  return nvskit::Status::Ok();
}

// loadCredentials reads the three PEM strings; the first failure is returned as is.
nvskit::Status loadCredentials() {
  struct {
    const char* key;
    std::string* into;
  } items[] = {
      {"root_ca", &creds.rootCa},
      {"device_cert", &creds.deviceCert},
      {"private_key", &creds.privateKey},
  };
  for (auto& item : items) {
    auto r = nvs.readString(kNamespace, item.key);
    if (!r) {
      return r.status();
    }
    *item.into = r.take();
  }
  return nvskit::Status::Ok();
}

void connectWiFi() {
  if (WiFi.status() == WL_CONNECTED) {
    return;
  }
  Serial.printf("Wi-Fi: connecting to %s", config.wifiSsid.c_str());
  WiFi.mode(WIFI_STA);
  WiFi.begin(config.wifiSsid.c_str(), config.wifiPassword.c_str());
  while (WiFi.status() != WL_CONNECTED) {
    delay(500);
    Serial.print('.');
  }
  Serial.printf(" connected, IP %s\n", WiFi.localIP().toString().c_str());
}

void connectMqtt() {
  while (!mqtt.connected()) {
    Serial.printf("MQTT: connecting to %s:%u as %s\n", config.mqttHost.c_str(), config.mqttPort,
                  config.thingName.c_str());
    if (mqtt.connect(config.thingName.c_str())) {
      Serial.println("MQTT: connected");
      return;
    }
    Serial.printf("MQTT: failed, state %d; retrying in 5 s\n", mqtt.state());
    delay(5000);
  }
}

}  // namespace

void setup() {
  Serial.begin(115200);
  delay(200);

  // The Arduino core has initialised "nvs" already; begin() is then a no-op that reports success.
  if (auto st = nvs.begin(); !st) {
    halt("NVS", st.message());
  }
  if (auto st = loadConfig(); !st) {
    halt("config", st.message());
  }
  if (auto st = loadCredentials(); !st) {
    halt("credentials", st.message());
  }
  Serial.printf("Loaded config for %s and %u+%u+%u bytes of PEM from NVS\n", config.thingName.c_str(),
                static_cast<unsigned>(creds.rootCa.size()), static_cast<unsigned>(creds.deviceCert.size()),
                static_cast<unsigned>(creds.privateKey.size()));

  net.setCACert(creds.rootCa.c_str());
  net.setCertificate(creds.deviceCert.c_str());
  net.setPrivateKey(creds.privateKey.c_str());
  mqtt.setServer(config.mqttHost.c_str(), config.mqttPort);
  mqtt.setBufferSize(1024);

  connectWiFi();
  connectMqtt();
}

void loop() {
  static uint32_t lastPublish = 0;
  connectWiFi();
  connectMqtt();
  mqtt.loop();
  if (millis() - lastPublish >= 10000) {
    lastPublish = millis();
    char payload[128];
    snprintf(payload, sizeof payload, "{\"thing\":\"%s\",\"uptime_ms\":%lu}", config.thingName.c_str(),
             static_cast<unsigned long>(millis()));
    bool ok = mqtt.publish(config.topic.c_str(), payload);
    Serial.printf("MQTT: publish %s -> %s\n", payload, ok ? "ok" : "failed");
  }
}
