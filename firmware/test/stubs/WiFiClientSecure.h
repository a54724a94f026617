// Compile-check stub of WiFiClientSecure.h (see README.md).
#pragma once
#include "Arduino.h"
class Client {
 public:
  virtual ~Client() = default;
};
class WiFiClientSecure : public Client {
 public:
  void setCACert(const char* rootCA);
  void setCertificate(const char* client_ca);
  void setPrivateKey(const char* private_key);
};
