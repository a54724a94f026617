package doctor

import (
	"encoding/json"
	"fmt"

	"github.com/nvskit/nvskit/nvs"
)

// Schema names the JSON shape of a Report.
const Schema = "nvskit-doctor/1"

// Severity grades a Finding; it is the nvs package's (info, warning, error).
type Severity = nvs.Severity

// Severities.
const (
	// Info: a fact worth knowing or a check that could not be made; not a fault.
	Info = nvs.Info
	// Warning: the device works today but one ordinary step (enabling flash encryption, a
	// reflash, a firmware update) breaks it.
	Warning = nvs.Warning
	// Error: the firmware fails, or reads other data than the user meant.
	Error = nvs.Error
)

// FirmwareError is an esp_err_t the firmware returns: its name and number.
type FirmwareError struct {
	Name string
	Code int32
}

// Hex returns the number as ESP-IDF logs it: 0x1117, or -1 for ESP_FAIL.
func (e FirmwareError) Hex() string {
	if e.Code < 0 {
		return fmt.Sprint(e.Code)
	}
	return fmt.Sprintf("0x%X", e.Code)
}

// String returns "ESP_ERR_NVS_CORRUPT_KEY_PART (0x1117)", or "" for no error.
func (e FirmwareError) String() string {
	if e.Name == "" {
		return ""
	}
	return fmt.Sprintf("%s (%s)", e.Name, e.Hex())
}

// IsZero reports that no firmware error is named.
func (e FirmwareError) IsZero() bool { return e.Name == "" }

// MarshalJSON writes {"name": ..., "code": 4375, "hex": "0x1117"}, or null for no error.
func (e FirmwareError) MarshalJSON() ([]byte, error) {
	if e.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(struct {
		Name string `json:"name"`
		Code int32  `json:"code"`
		Hex  string `json:"hex"`
	}{e.Name, e.Code, e.Hex()})
}

// The firmware errors the findings name (esp_err.h, nvs.h, nvs_sec_provider.h).
var (
	ErrFail               = FirmwareError{"ESP_FAIL", -1}
	ErrInvalidArg         = FirmwareError{"ESP_ERR_INVALID_ARG", 0x102}
	ErrNVSNotFound        = FirmwareError{"ESP_ERR_NVS_NOT_FOUND", 0x1102}
	ErrNVSTypeMismatch    = FirmwareError{"ESP_ERR_NVS_TYPE_MISMATCH", 0x1103}
	ErrNVSNoFreePages     = FirmwareError{"ESP_ERR_NVS_NO_FREE_PAGES", 0x110D}
	ErrNVSPartNotFound    = FirmwareError{"ESP_ERR_NVS_PART_NOT_FOUND", 0x110F}
	ErrNVSNewVersionFound = FirmwareError{"ESP_ERR_NVS_NEW_VERSION_FOUND", 0x1110}
	ErrNVSKeysNotInit     = FirmwareError{"ESP_ERR_NVS_KEYS_NOT_INITIALIZED", 0x1116}
	ErrNVSCorruptKeyPart  = FirmwareError{"ESP_ERR_NVS_CORRUPT_KEY_PART", 0x1117}
	ErrNVSWrongEncryption = FirmwareError{"ESP_ERR_NVS_WRONG_ENCRYPTION", 0x1119}
	ErrHMACKeyNotFound    = FirmwareError{"ESP_ERR_NVS_SEC_HMAC_KEY_NOT_FOUND", 0xF001}
	ErrHMACKeyGenFailed   = FirmwareError{"ESP_ERR_NVS_SEC_HMAC_KEY_GENERATION_FAILED", 0xF003}
	ErrNotSupported       = FirmwareError{"ESP_ERR_NOT_SUPPORTED", 0x106}
)

// Finding is one diagnosed problem (or, with severity Info, a fact or a check that could not
// be made).
type Finding struct {
	// Code is stable; docs/doctor.md lists every code.
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	// Partition names the partition the finding is about ("" for the chip or the table).
	Partition string `json:"partition,omitempty"`
	// Message says what is wrong, in one sentence.
	Message string `json:"message"`
	// Firmware is the error the firmware returns because of it (zero when none applies).
	Firmware FirmwareError `json:"firmware_error"`
	// Evidence is what was read that shows it.
	Evidence string `json:"evidence"`
	// Fix is the command (or step) that fixes it; "" for Info findings with nothing to do.
	Fix string `json:"fix,omitempty"`
}

// Report is the result of a diagnosis, as `nvskit doctor --json` prints it.
type Report struct {
	// Schema is always Schema.
	Schema string `json:"schema"`
	// Chip and Security repeat the facts the findings rest on.
	Chip     string    `json:"chip"`
	Security *Security `json:"security"`
	// Scheme is the NVS encryption scheme the diagnosis assumed.
	Scheme Scheme `json:"scheme"`
	// Clean is true when no finding is a warning or an error (the command exits 0).
	Clean    bool      `json:"clean"`
	Findings []Finding `json:"findings"`
}

// NewReport diagnoses f and wraps the findings in a Report.
func NewReport(f Facts) Report {
	fs := Diagnose(f)
	r := Report{Schema: Schema, Chip: f.Chip, Security: f.Security, Scheme: inferScheme(&f), Clean: true, Findings: fs}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	for _, x := range fs {
		if x.Severity >= Warning {
			r.Clean = false
		}
	}
	return r
}
