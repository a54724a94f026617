// Compile-check stub of WiFi.h (see README.md).
#pragma once
#include "Arduino.h"
typedef enum { WL_IDLE_STATUS = 0, WL_CONNECTED = 3 } wl_status_t;
typedef enum { WIFI_OFF = 0, WIFI_STA = 1 } wifi_mode_t;
class IPAddress {
 public:
  String toString() const;
};
class WiFiClass {
 public:
  wl_status_t status();
  bool mode(wifi_mode_t m);
  wl_status_t begin(const char* ssid, const char* passphrase = nullptr);
  IPAddress localIP();
};
extern WiFiClass WiFi;
