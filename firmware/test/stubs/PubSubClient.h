// Compile-check stub of PubSubClient.h (see README.md).
#pragma once
#include "WiFiClientSecure.h"
class PubSubClient {
 public:
  explicit PubSubClient(Client& client);
  PubSubClient& setServer(const char* domain, uint16_t port);
  bool setBufferSize(uint16_t size);
  bool connect(const char* id);
  bool connected();
  int state();
  bool loop();
  bool publish(const char* topic, const char* payload);
};
