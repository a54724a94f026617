package partition

import (
	"fmt"
	"strings"
)

// Partition types.
const (
	TypeApp            = 0x00
	TypeData           = 0x01
	TypeBootloader     = 0x02
	TypePartitionTable = 0x03
)

// A few subtypes callers need by name (see SubtypeName for all of them).
const (
	SubtypeFactory   = 0x00 // app
	SubtypeOTA0      = 0x10 // app; ota_N is SubtypeOTA0+N
	SubtypeTest      = 0x20 // app
	SubtypeOTAData   = 0x00 // data "ota"
	SubtypePHY       = 0x01 // data
	SubtypeNVS       = 0x02 // data
	SubtypeCoredump  = 0x03 // data
	SubtypeNVSKeys   = 0x04 // data
	SubtypeEfuse     = 0x05 // data
	SubtypeUndefined = 0x06 // data; also what an empty subtype means for every non-app type
	SubtypeSPIFFS    = 0x82 // data
	SubtypeLittleFS  = 0x83 // data
	SubtypeTEEOTA    = 0x90 // data
	SubtypePrimary   = 0x00 // bootloader, partition_table
	SubtypeRecovery  = 0x02 // bootloader
)

// keyword is one name=value pair; keyword lists keep gen_esp32part.py's order, which decides
// the order of "Known keywords" in messages and which name a value prints as.
type keyword struct {
	name  string
	value uint8
}

type keywords []keyword

func (k keywords) lookup(name string) (uint8, bool) {
	for _, kw := range k {
		if kw.name == name {
			return kw.value, true
		}
	}
	return 0, false
}

func (k keywords) name(v uint8) (string, bool) {
	for _, kw := range k {
		if kw.value == v {
			return kw.name, true
		}
	}
	return "", false
}

func (k keywords) names() string {
	s := make([]string, len(k))
	for i, kw := range k {
		s[i] = kw.name
	}
	return strings.Join(s, ", ")
}

var typeKeywords = keywords{
	{"bootloader", TypeBootloader},
	{"partition_table", TypePartitionTable},
	{"app", TypeApp},
	{"data", TypeData},
}

// defaultSubtypes are the subtype keywords of the four named types. A literal, laid out by
// the linker: built at package initialisation (with a loop of Sprintf), it cost every start of
// nvskit about 20 us. Never modified: builtinSubtypes returns a copy to extend.
var defaultSubtypes = [4]keywords{
	TypeBootloader:     {{"primary", 0}, {"ota", 1}, {"recovery", 2}},
	TypePartitionTable: {{"primary", 0}, {"ota", 1}},
	TypeApp: {{"factory", 0}, {"test", 0x20},
		{"ota_0", 0x10}, {"ota_1", 0x11}, {"ota_2", 0x12}, {"ota_3", 0x13}, {"ota_4", 0x14}, {"ota_5", 0x15}, {"ota_6", 0x16}, {"ota_7", 0x17},
		{"ota_8", 0x18}, {"ota_9", 0x19}, {"ota_10", 0x1a}, {"ota_11", 0x1b}, {"ota_12", 0x1c}, {"ota_13", 0x1d}, {"ota_14", 0x1e}, {"ota_15", 0x1f},
		{"tee_0", 0x30}, {"tee_1", 0x31}},
	TypeData: {{"ota", 0}, {"phy", 1}, {"nvs", 2}, {"coredump", 3}, {"nvs_keys", 4},
		{"efuse", 5}, {"undefined", 6}, {"esphttpd", 0x80}, {"fat", 0x81}, {"spiffs", 0x82},
		{"littlefs", 0x83}, {"tee_ota", 0x90}},
}

// builtinSubtypes returns a copy of defaultSubtypes that may be extended.
func builtinSubtypes() [4]keywords {
	var s [4]keywords
	for i := range s {
		s[i] = append(keywords(nil), defaultSubtypes[i]...)
	}
	return s
}

// TypeName returns the keyword of a type ("app", "data", "bootloader", "partition_table"), or
// the number in decimal for any other type, as the CSV writer prints it.
func TypeName(t uint8) string {
	if n, ok := typeKeywords.name(t); ok {
		return n
	}
	return fmt.Sprint(t)
}

// SubtypeName returns the keyword of a subtype of type t (built-in keywords only), or the
// number in decimal, as the CSV writer prints it.
func SubtypeName(t, subtype uint8) string {
	if int(t) < len(defaultSubtypes) {
		if n, ok := defaultSubtypes[t].name(subtype); ok {
			return n
		}
	}
	return fmt.Sprint(subtype)
}

// LookupType returns the value of a type keyword (case-insensitive).
func LookupType(name string) (uint8, bool) { return typeKeywords.lookup(strings.ToLower(name)) }

// LookupSubtype returns the value of a built-in subtype keyword of type t (case-insensitive).
func LookupSubtype(t uint8, name string) (uint8, bool) {
	if int(t) >= len(defaultSubtypes) {
		return 0, false
	}
	return defaultSubtypes[t].lookup(strings.ToLower(name))
}

// SecureBoot selects the app-size rule of --secure.
type SecureBoot int

// Secure boot modes. SecureV1 requires app sizes in multiples of 64 KiB; SecureNone and
// SecureV2 require 4 KiB.
const (
	SecureNone SecureBoot = iota
	SecureV1
	SecureV2
)

// ExtraSubtype is a subtype keyword added at run time (gen_esp32part.py's
// --extra-partition-subtypes, ESP-IDF's extra_partition_subtypes.inc).
type ExtraSubtype struct {
	Type  uint8 // one of the four named types
	Name  string
	Value uint8
}

// ParseExtraSubtype parses "<type>, <name>, <value>" as gen_esp32part.py does: the type is one
// of the four type keywords, and the value is always read as hex ("40" is 0x40).
func ParseExtraSubtype(s string) (ExtraSubtype, error) {
	f := strings.Split(s, ",")
	for i := range f {
		f[i] = pyStrip(f[i])
	}
	if len(f) < 3 {
		return ExtraSubtype{}, fmt.Errorf("%w: extra subtype %q: want \"<type>, <name>, <hex value>\", e.g. \"data, my_store, 40\"", ErrOptions, s)
	}
	t, ok := typeKeywords.lookup(f[0])
	if !ok {
		return ExtraSubtype{}, fmt.Errorf("%w: extra subtype %q: type %q is not one of %s", ErrOptions, s, f[0], typeKeywords.names())
	}
	v, ok := pyIntBase(f[2], 16)
	if !ok || v < 0 || v > 0xFF {
		return ExtraSubtype{}, fmt.Errorf("%w: extra subtype %q: value %q is not a hex number 0..ff", ErrOptions, s, f[2])
	}
	return ExtraSubtype{Type: t, Name: f[1], Value: uint8(v)}, nil
}

// Options are the settings of gen_esp32part.py that change how a table is read, checked and
// written. The zero value is the tool's default.
type Options struct {
	// Offset is the table's own flash offset; 0 means DefaultOffset (0x8000).
	Offset uint32
	// PrimaryBootloaderOffset and RecoveryBootloaderOffset place bootloader rows; nil means
	// not given (a CSV bootloader row is then an error).
	PrimaryBootloaderOffset  *uint32
	RecoveryBootloaderOffset *uint32
	// DisableMD5 writes no MD5 row, and reads an MD5 row as an (invalid) entry.
	DisableMD5 bool
	// Secure selects the app size alignment.
	Secure SecureBoot
	// ExtraSubtypes adds subtype keywords.
	ExtraSubtypes []ExtraSubtype
	// NoVerify makes Parse skip Verify (placement and FlashSize still apply).
	NoVerify bool
	// FlashSize, if not 0, makes Parse check that the table fits (CheckFlashSize).
	FlashSize uint64
	// LookupEnv resolves $NAME and ${NAME} in CSV lines (pass os.LookupEnv for the reference's
	// behaviour); nil means no variable is defined.
	LookupEnv func(name string) (string, bool)
	// Warn, if not nil, receives the warnings gen_esp32part.py prints and nvskit's own (names
	// cut to 16 bytes, unknown flag bits).
	Warn func(msg string)
}

func (o *Options) offset() uint32 {
	if o.Offset == 0 {
		return DefaultOffset
	}
	return o.Offset
}

func (o *Options) warn(format string, args ...any) {
	if o.Warn != nil {
		o.Warn(fmt.Sprintf(format, args...))
	}
}

// check validates the options that the reference checks before reading the table.
func (o *Options) check() error {
	if o.PrimaryBootloaderOffset != nil && *o.PrimaryBootloaderOffset >= o.offset() {
		return fmt.Errorf("%w: the primary bootloader (0x%x) must be below the partition table (0x%x); check --primary-bootloader-offset and --offset",
			ErrOptions, *o.PrimaryBootloaderOffset, o.offset())
	}
	_, err := o.subtypes()
	return err
}

// subtypes returns the subtype keywords of the four named types with the extras added: a new
// name is appended, an existing name gets the new value in place, and a value the type
// already has is an error (as in the reference).
func (o *Options) subtypes() ([4]keywords, error) {
	if len(o.ExtraSubtypes) == 0 {
		return defaultSubtypes, nil
	}
	s := builtinSubtypes()
	for _, e := range o.ExtraSubtypes {
		if int(e.Type) >= len(s) {
			return s, fmt.Errorf("%w: extra subtype %q: type %d is not one of %s", ErrOptions, e.Name, e.Type, typeKeywords.names())
		}
		kw := s[e.Type]
		if n, ok := kw.name(e.Value); ok {
			return s, fmt.Errorf("%w: extra subtype %q: %s subtype 0x%02x is already %q; choose a free value",
				ErrOptions, e.Name, TypeName(e.Type), e.Value, n)
		}
		replaced := false
		for i := range kw {
			if kw[i].name == e.Name {
				kw[i].value = e.Value
				replaced = true
			}
		}
		if !replaced {
			kw = append(kw, keyword{e.Name, e.Value})
		}
		s[e.Type] = kw
	}
	return s, nil
}

// subtypesOf returns the keywords of type t (none for custom types).
func subtypesOf(s *[4]keywords, t int64) keywords {
	if t >= 0 && t < int64(len(s)) {
		return s[t]
	}
	return nil
}
