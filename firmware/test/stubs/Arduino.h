// Compile-check stub of Arduino.h (see README.md).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

class String {
 public:
  const char* c_str() const { return s_.c_str(); }
 private:
  std::string s_;
};

class HardwareSerial {
 public:
  void begin(unsigned long baud);
  size_t printf(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  size_t print(char c);
  size_t print(const char* s);
  size_t println(const char* s);
};
extern HardwareSerial Serial;

void delay(uint32_t ms);
unsigned long millis();
