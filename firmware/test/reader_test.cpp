// Host unit tests of NvsKitReader against the in-memory NVS fake (test/fake). Built and run by
// integrations/integrations_test.go (go test ./...) or by hand:
//   cd firmware && g++ -std=c++17 -fno-exceptions -Wall -Wextra -Werror -Itest/fake
//       -Invskit_reader/src test/reader_test.cpp test/fake/fake_nvs.cpp
//       nvskit_reader/src/NvsKitReader.cpp && ./a.out
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "NvsKitReader.h"
#include "fake_nvs.h"

namespace {

int failures = 0;
int checks = 0;

#define CHECK(cond)                                                        \
  do {                                                                     \
    checks++;                                                              \
    if (!(cond)) {                                                         \
      failures++;                                                          \
      std::fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
    }                                                                      \
  } while (0)

#define CHECK_EQ(a, b)                                                                          \
  do {                                                                                          \
    checks++;                                                                                   \
    if (!((a) == (b))) {                                                                        \
      failures++;                                                                               \
      std::fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed\n", __FILE__, __LINE__, #a, #b);     \
    }                                                                                           \
  } while (0)

#define CHECK_CONTAINS(haystack, needle)                                                          \
  do {                                                                                            \
    checks++;                                                                                     \
    if (std::strstr((haystack), (needle)) == nullptr) {                                           \
      failures++;                                                                                 \
      std::fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, (haystack), (needle)); \
    }                                                                                             \
  } while (0)

[[maybe_unused]] nvs_sec_cfg_t keysOf(uint8_t seed) {
  nvs_sec_cfg_t k;
  for (int i = 0; i < NVS_KEY_SIZE; i++) {
    k.eky[i] = static_cast<uint8_t>(seed + i);
    k.tky[i] = static_cast<uint8_t>(seed ^ i);
  }
  return k;
}

const char kCert[] = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n";

void testPlainStrings() {
  fake_nvs::reset();
  fake_nvs::addPartition("nvs");
  fake_nvs::putString("nvs", "certs", "root_ca", kCert);
  fake_nvs::putString("nvs", "certs", "empty", "");
  std::string big(3967, 'x');  // the longest string a V2 page holds
  fake_nvs::putString("nvs", "certs", "big", big);

  nvskit::Reader r("nvs");
  CHECK(r.begin().ok());
  auto ca = r.readString("certs", "root_ca");
  CHECK(ca.ok());
  CHECK_EQ(ca.value(), std::string(kCert));
  CHECK_EQ(ca.value().size(), std::strlen(kCert));  // no trailing NUL
  CHECK_EQ(std::string(ca.message()), "");
  auto e = r.readString("certs", "empty");
  CHECK(e.ok());
  CHECK_EQ(e.value(), "");
  auto b = r.readString("certs", "big");
  CHECK(b.ok());
  CHECK_EQ(b.value(), big);
  CHECK_EQ(fake_nvs::openHandles(), 0);
  CHECK_EQ(fake_nvs::sizeQueries(), 3);  // one length query per read
}

void testBlobs() {
  fake_nvs::reset();
  fake_nvs::addPartition("nvs");
  std::vector<uint8_t> der = {0x30, 0x82, 0x00, 0x01, 0xff, 0x00};
  fake_nvs::putBlob("nvs", "certs", "key", der);
  fake_nvs::putBlob("nvs", "certs", "nothing", {});
  fake_nvs::putBlob("nvs", "certs", "pem", std::vector<uint8_t>(kCert, kCert + std::strlen(kCert)));
  std::vector<uint8_t> large(20000);
  for (size_t i = 0; i < large.size(); i++) large[i] = static_cast<uint8_t>(i * 7);
  fake_nvs::putBlob("nvs", "certs", "large", large);

  nvskit::Reader r;  // default label "nvs"
  CHECK_EQ(std::string(r.partition()), "nvs");
  CHECK(r.begin());
  auto k = r.readBlob("certs", "key");
  CHECK(k.ok());
  CHECK(k.value() == der);  // embedded NUL bytes are kept
  auto n = r.readBlob("certs", "nothing");
  CHECK(n.ok());
  CHECK(n.value().empty());
  auto l = r.readBlob("certs", "large");
  CHECK(l.ok());
  CHECK(l.value() == large);
  auto p = r.readBlobAsString("certs", "pem");
  CHECK(p.ok());
  CHECK_EQ(p.value(), std::string(kCert));
  std::vector<uint8_t> moved = k.take();
  CHECK(moved == der);
  CHECK_EQ(fake_nvs::openHandles(), 0);
}

void testScalars() {
  fake_nvs::reset();
  fake_nvs::addPartition("nvs");
  fake_nvs::putU8("nvs", "cfg", "u8", 200);
  fake_nvs::putI8("nvs", "cfg", "i8", -100);
  fake_nvs::putU16("nvs", "cfg", "u16", 60000);
  fake_nvs::putI16("nvs", "cfg", "i16", -30000);
  fake_nvs::putU32("nvs", "cfg", "port", 8883);
  fake_nvs::putI32("nvs", "cfg", "i32", -2000000000);
  fake_nvs::putU64("nvs", "cfg", "u64", 18000000000000000000ull);
  fake_nvs::putI64("nvs", "cfg", "i64", -9000000000000000000ll);

  nvskit::Reader r("nvs");
  CHECK(r.begin());
  CHECK_EQ(r.readU8("cfg", "u8").value(), 200);
  CHECK_EQ(r.readI8("cfg", "i8").value(), -100);
  CHECK_EQ(r.readU16("cfg", "u16").value(), 60000);
  CHECK_EQ(r.readI16("cfg", "i16").value(), -30000);
  CHECK_EQ(r.readU32("cfg", "port").value(), 8883u);
  CHECK_EQ(r.readI32("cfg", "i32").value(), -2000000000);
  CHECK_EQ(r.readU64("cfg", "u64").value(), 18000000000000000000ull);
  CHECK_EQ(r.readI64("cfg", "i64").value(), -9000000000000000000ll);

  // The type must match, as in the IDF: a u32 is not readable as a u16 or a string.
  auto wrong = r.readU16("cfg", "port");
  CHECK(!wrong.ok());
  CHECK_EQ(wrong.code(), ESP_ERR_NVS_NOT_FOUND);
  CHECK_EQ(wrong.value(), 0);  // defined default on failure
  CHECK_EQ(wrong.valueOr(1883), 1883);
  CHECK_EQ(r.readU32("cfg", "port").valueOr(1), 8883u);
  CHECK(!r.readString("cfg", "port").ok());
  CHECK_EQ(fake_nvs::openHandles(), 0);
}

void testErrorsNameTheValue() {
  fake_nvs::reset();
  fake_nvs::addPartition("nvs");
  fake_nvs::putString("nvs", "certs", "root_ca", kCert);
  nvskit::Reader r("nvs");

  // Not initialised yet.
  auto pre = r.readString("certs", "root_ca");
  CHECK(!pre.ok());
  CHECK_EQ(pre.code(), ESP_ERR_NVS_PART_NOT_FOUND);

  CHECK(r.begin());
  auto missingKey = r.readString("certs", "device_cert");
  CHECK(!missingKey);
  CHECK_EQ(missingKey.code(), ESP_ERR_NVS_NOT_FOUND);
  CHECK_CONTAINS(missingKey.message(), "nvs/certs/device_cert");
  CHECK_CONTAINS(missingKey.message(), "ESP_ERR_NVS_NOT_FOUND");
  CHECK(missingKey.value().empty());

  auto missingNs = r.readBlob("nope", "root_ca");
  CHECK_EQ(missingNs.code(), ESP_ERR_NVS_NOT_FOUND);
  CHECK_CONTAINS(missingNs.message(), "nvs_open_from_partition");

  auto longKey = r.readString("certs", "a_key_of_16_chr");
  CHECK_EQ(longKey.code(), ESP_ERR_NVS_NOT_FOUND);  // 15 characters: allowed, just missing
  auto tooLong = r.readString("certs", "a_key_of_16_char");
  CHECK_EQ(tooLong.code(), ESP_ERR_NVS_KEY_TOO_LONG);
  auto tooLongNs = r.readU8("a_namespace_16ch", "k");
  CHECK_EQ(tooLongNs.code(), ESP_ERR_NVS_KEY_TOO_LONG);
  CHECK_EQ(r.readString("", "k").code(), ESP_ERR_INVALID_ARG);
  CHECK_EQ(r.readString("certs", nullptr).code(), ESP_ERR_INVALID_ARG);
  CHECK_EQ(fake_nvs::openHandles(), 0);
}

void testBeginNeverHidesMountErrors() {
  fake_nvs::reset();
  fake_nvs::addPartition("fctry");
  fake_nvs::setInitError("fctry", ESP_ERR_NVS_NO_FREE_PAGES);
  nvskit::Reader r("fctry");
  auto st = r.begin();
  CHECK(!st);
  CHECK_EQ(st.code(), ESP_ERR_NVS_NO_FREE_PAGES);
  CHECK_CONTAINS(st.message(), "fctry: nvs_flash_init_partition: ESP_ERR_NVS_NO_FREE_PAGES");
  CHECK_CONTAINS(st.message(), "readonly");
  CHECK(!fake_nvs::isInitialized("fctry"));

  nvskit::Reader missing("nosuch");
  CHECK_EQ(missing.begin().code(), ESP_ERR_NOT_FOUND);
  nvskit::Reader empty("");
  CHECK_EQ(empty.begin().code(), ESP_ERR_INVALID_ARG);
  CHECK_EQ(nvskit::Reader(nullptr).begin().code(), ESP_ERR_INVALID_ARG);
}

void testBeginTwiceAndEnd() {
  fake_nvs::reset();
  fake_nvs::addPartition("nvs");
  fake_nvs::putU8("nvs", "a", "b", 1);
  nvskit::Reader a("nvs"), b("nvs");
  CHECK(a.begin());
  CHECK(b.begin());  // already initialised (e.g. by the Arduino core): fine
  CHECK_EQ(b.readU8("a", "b").value(), 1);
  CHECK(a.end());
  CHECK(!fake_nvs::isInitialized("nvs"));
  auto again = a.end();
  CHECK_EQ(again.code(), ESP_ERR_NVS_NOT_INITIALIZED);
  CHECK_CONTAINS(again.message(), "nvs_flash_deinit_partition");
}

void testValueChangedBetweenQueryAndRead() {
  fake_nvs::reset();
  fake_nvs::addPartition("nvs");
  fake_nvs::putString("nvs", "s", "grow", "short");
  fake_nvs::replaceAfterSizeQuery("nvs", "s", "grow", "much longer now");
  nvskit::Reader r("nvs");
  CHECK(r.begin());
  auto g = r.readString("s", "grow");
  CHECK(!g.ok());
  CHECK_EQ(g.code(), ESP_ERR_NVS_INVALID_LENGTH);
  CHECK(g.value().empty());
  CHECK_EQ(fake_nvs::openHandles(), 0);

  // Shrinking is fine: the read reports the new, smaller length.
  fake_nvs::putString("nvs", "s", "shrink", "a long value");
  fake_nvs::replaceAfterSizeQuery("nvs", "s", "shrink", "tiny");
  auto s = r.readString("s", "shrink");
  CHECK(s.ok());
  CHECK_EQ(s.value(), "tiny");
  fake_nvs::putBlob("nvs", "s", "blob", {1, 2, 3, 4, 5});
  fake_nvs::replaceAfterSizeQuery("nvs", "s", "blob", "ab");
  auto bl = r.readBlob("s", "blob");
  CHECK(bl.ok());
  CHECK(bl.value() == (std::vector<uint8_t>{'a', 'b'}));
}

void testInjectedFailuresCloseHandles() {
  fake_nvs::reset();
  fake_nvs::addPartition("nvs");
  fake_nvs::putString("nvs", "s", "k", "v");
  fake_nvs::putBlob("nvs", "s", "b", {1});
  fake_nvs::putU32("nvs", "s", "n", 5);
  nvskit::Reader r("nvs");
  CHECK(r.begin());
  fake_nvs::failNext("nvs_get_str", ESP_FAIL);
  CHECK_EQ(r.readString("s", "k").code(), ESP_FAIL);
  fake_nvs::failNext("nvs_get_blob", ESP_ERR_NO_MEM);
  auto b = r.readBlob("s", "b");
  CHECK_EQ(b.code(), ESP_ERR_NO_MEM);
  CHECK_CONTAINS(b.message(), "nvs/s/b: nvs_get_blob: ESP_ERR_NO_MEM");
  fake_nvs::failNext("nvs_get_u32", ESP_ERR_NVS_INVALID_HANDLE);
  CHECK_EQ(r.readU32("s", "n").code(), ESP_ERR_NVS_INVALID_HANDLE);
  fake_nvs::failNext("nvs_open_from_partition", ESP_ERR_NVS_NOT_INITIALIZED);
  CHECK_EQ(r.readU32("s", "n").code(), ESP_ERR_NVS_NOT_INITIALIZED);
  CHECK_EQ(fake_nvs::openHandles(), 0);
  CHECK_EQ(r.readString("s", "k").value(), "v");  // faults are one-shot
}

#if NVSKIT_READER_ENCRYPTION
void testEncrypted() {
  const nvs_sec_cfg_t keys = keysOf(0x11);
  fake_nvs::reset();
  fake_nvs::addPartition("fctry", &keys);
  fake_nvs::addKeysPartition("nvs_keys", keys);
  fake_nvs::putString("fctry", "device", "serial", "SN-0001");
  fake_nvs::putBlob("fctry", "device", "priv_key", {9, 8, 7});

  nvskit::Reader r("fctry");
  auto st = r.beginEncrypted("nvs_keys");
  CHECK(st.ok());
  CHECK_EQ(r.readString("device", "serial").value(), "SN-0001");
  CHECK(r.readBlob("device", "priv_key").value() == (std::vector<uint8_t>{9, 8, 7}));
  CHECK_EQ(fake_nvs::openHandles(), 0);
}

void testEncryptedErrors() {
  const nvs_sec_cfg_t keys = keysOf(0x22);
  fake_nvs::reset();
  fake_nvs::addPartition("fctry", &keys);
  fake_nvs::putString("fctry", "device", "serial", "SN-0001");

  // No keys partition with that label.
  nvskit::Reader r("fctry");
  auto st = r.beginEncrypted("nvs_keys");
  CHECK_EQ(st.code(), ESP_ERR_NVS_PART_NOT_FOUND);
  CHECK_CONTAINS(st.message(), "nvs_keys");
  CHECK(!fake_nvs::isInitialized("fctry"));

  // Keys partition never written: reported, never generated (that would orphan the image).
  fake_nvs::addKeysPartition("nvs_keys", keys, fake_nvs::KeysState::Empty);
  st = r.beginEncrypted("nvs_keys");
  CHECK_EQ(st.code(), ESP_ERR_NVS_KEYS_NOT_INITIALIZED);
  CHECK_CONTAINS(st.message(), "nvs_flash_read_security_cfg(nvs_keys)");
  CHECK_CONTAINS(st.message(), "--keygen");
  CHECK(!fake_nvs::isInitialized("fctry"));

  fake_nvs::addKeysPartition("nvs_keys", keys, fake_nvs::KeysState::Corrupt);
  CHECK_EQ(r.beginEncrypted("nvs_keys").code(), ESP_ERR_NVS_CORRUPT_KEY_PART);

  fake_nvs::addKeysPartition("nvs_keys", keys);
  fake_nvs::failNext("nvs_flash_secure_init_partition", ESP_ERR_NVS_XTS_CFG_NOT_FOUND);
  st = r.beginEncrypted("nvs_keys");
  CHECK_EQ(st.code(), ESP_ERR_NVS_XTS_CFG_NOT_FOUND);
  CHECK_CONTAINS(st.message(), "nvs_flash_secure_init_partition");

  // Wrong keys: the partition mounts but no entry decrypts, so values are not found.
  fake_nvs::addKeysPartition("nvs_keys", keysOf(0x33));
  CHECK(r.beginEncrypted("nvs_keys").ok());
  CHECK_EQ(r.readString("device", "serial").code(), ESP_ERR_NVS_NOT_FOUND);
  CHECK(r.end());

  // A plain begin on an encrypted image reads nothing either.
  CHECK(r.begin().ok());
  CHECK_EQ(r.readString("device", "serial").code(), ESP_ERR_NVS_NOT_FOUND);
  CHECK(r.end());

  // And the right keys read it.
  fake_nvs::addKeysPartition("nvs_keys", keys);
  CHECK(r.beginEncrypted().ok());  // default keys label "nvs_keys"
  CHECK_EQ(r.readString("device", "serial").value(), "SN-0001");
  CHECK_EQ(fake_nvs::openHandles(), 0);
}
#else
void testEncryptionCompiledOut() {
  fake_nvs::reset();
  fake_nvs::addPartition("fctry");
  nvskit::Reader r("fctry");
  auto st = r.beginEncrypted("nvs_keys");
  CHECK_EQ(st.code(), ESP_ERR_NOT_SUPPORTED);
  CHECK_CONTAINS(st.message(), "NVSKIT_READER_ENCRYPTION=0");
}
#endif

void testResultAndStatus() {
  nvskit::Result<uint32_t> ok(7u);
  CHECK(ok.ok());
  CHECK_EQ(ok.code(), ESP_OK);
  nvskit::Result<uint32_t> bad(nvskit::Status::Error(ESP_ERR_NVS_NOT_FOUND, "x"));
  CHECK(!bad);
  CHECK_EQ(std::string(bad.message()), "x");
  // An "error" made with ESP_OK is still an error.
  auto st = nvskit::Status::Error(ESP_OK, "oops");
  CHECK(!st.ok());
  CHECK_EQ(st.code(), ESP_FAIL);
  CHECK_CONTAINS(nvskit::errorName(ESP_ERR_NVS_NEW_VERSION_FOUND).c_str(), "--version 1");
  CHECK_EQ(nvskit::errorName(ESP_OK), "ESP_OK");
}

}  // namespace

int main() {
  testPlainStrings();
  testBlobs();
  testScalars();
  testErrorsNameTheValue();
  testBeginNeverHidesMountErrors();
  testBeginTwiceAndEnd();
  testValueChangedBetweenQueryAndRead();
  testInjectedFailuresCloseHandles();
#if NVSKIT_READER_ENCRYPTION
  testEncrypted();
  testEncryptedErrors();
#else
  testEncryptionCompiledOut();
#endif
  testResultAndStatus();
  if (failures > 0) {
    std::fprintf(stderr, "FAIL: %d of %d checks failed\n", failures, checks);
    return 1;
  }
  std::printf("ok: %d checks passed (NVSKIT_READER_ENCRYPTION=%d)\n", checks, NVSKIT_READER_ENCRYPTION);
  return 0;
}
