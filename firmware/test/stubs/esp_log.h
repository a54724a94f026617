// Compile-check stub of esp_log.h (see README.md).
#pragma once
#include <cstdio>
#define ESP_LOGE(tag, fmt, ...) std::printf("E %s: " fmt "\n", tag, ##__VA_ARGS__)
#define ESP_LOGW(tag, fmt, ...) std::printf("W %s: " fmt "\n", tag, ##__VA_ARGS__)
#define ESP_LOGI(tag, fmt, ...) std::printf("I %s: " fmt "\n", tag, ##__VA_ARGS__)
