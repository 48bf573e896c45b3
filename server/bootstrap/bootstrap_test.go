package bootstrap

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func sample() Data {
	return Data{Files: map[string]string{"server-ca.crt": "CERT", "server-ca.key": "KEY"}, AgentToken: "K10abc::node:secret"}
}

// TestSealOpen: what is sealed with the server token's secret opens with
// it, and gives back the same data; the secret is nowhere in the clear.
func TestSealOpen(t *testing.T) {
	blob, err := Seal(sample(), "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{"KEY", "CERT", "node:secret", "s3cret"} {
		if strings.Contains(string(blob), clear) {
			t.Errorf("sealed data shows %q in the clear", clear)
		}
	}
	got, err := Open(blob, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(sample()) {
		t.Errorf("opened %+v, want %+v", got, sample())
	}
	again, err := Seal(sample(), "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if string(again) == string(blob) {
		t.Error("two seals of the same data are the same bytes: salt and nonce must be new each time")
	}
}

// TestOpenRefusesWrongTokenAndTampering: another token, or a changed byte,
// is ErrWrongToken, never data.
func TestOpenRefusesWrongTokenAndTampering(t *testing.T) {
	blob, err := Seal(sample(), "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(blob, "other"); !errors.Is(err, ErrWrongToken) {
		t.Errorf("Open with another token = %v, want ErrWrongToken", err)
	}
	var st sealed
	if err := json.Unmarshal(blob, &st); err != nil {
		t.Fatal(err)
	}
	st.Data[len(st.Data)/2] ^= 1
	tampered, _ := json.Marshal(st)
	if _, err := Open(tampered, "s3cret"); !errors.Is(err, ErrWrongToken) {
		t.Errorf("Open of tampered data = %v, want ErrWrongToken", err)
	}
	if _, err := Open([]byte("not sealed"), "s3cret"); err == nil || errors.Is(err, ErrWrongToken) {
		t.Errorf("Open of garbage = %v, want a form error", err)
	}
	if _, err := Seal(sample(), ""); err == nil {
		t.Error("Seal with no secret succeeded")
	}
}
