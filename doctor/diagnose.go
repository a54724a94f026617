package doctor

// Diagnose applies every rule to f and returns the findings, errors first, in a stable order.
// It does no I/O and never panics on any facts, however malformed the raw bytes.
func Diagnose(f Facts) []Finding {
	// The rules are being written on this branch; the types above are stable.
	return nil
}

// inferScheme returns the scheme Diagnose assumes: f.Scheme when given, else the
// flash-encryption scheme when the table has an nvs_keys partition.
func inferScheme(f *Facts) Scheme {
	if f.Scheme != SchemeUnknown {
		return f.Scheme
	}
	if f.Keys != nil {
		return SchemeFlashEnc
	}
	return SchemeUnknown
}
