// Compile-check stub of ArduinoJson 7 (see README.md): JsonDocument, operator[], the "|"
// default operator, deserializeJson from a std::string.
#pragma once
#include <string>
class JsonVariantConst {
 public:
  template <typename T>
  friend T operator|(const JsonVariantConst& v, T fallback) {
    (void)v;
    return fallback;
  }
};
class JsonDocument {
 public:
  JsonVariantConst operator[](const char* key) const;
};
class DeserializationError {
 public:
  explicit operator bool() const;
  const char* c_str() const;
};
DeserializationError deserializeJson(JsonDocument& doc, const std::string& input);
