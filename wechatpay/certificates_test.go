package wechatpay

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestCertificatesRoundTrip: EncodeCertificates' answer decodes back to
// the same certificates, with serials and keys, under the APIv3 key; its
// JSON has the fields WeChat Pay documents.
func TestCertificatesRoundTrip(t *testing.T) {
	c1 := testCert(t, "cert_D7CE59D1F522D701.pem")
	c2 := testCert(t, "cert_F5765756002FDD77.pem")
	body, err := EncodeCertificates([]*x509.Certificate{c1, c2}, []byte(testAPIv3Key))
	if err != nil {
		t.Fatal(err)
	}
	var shape struct {
		Data []map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &shape); err != nil || len(shape.Data) != 2 {
		t.Fatalf("shape: %v %s", err, body)
	}
	for _, f := range []string{"serial_no", "effective_time", "expire_time", "encrypt_certificate"} {
		if _, ok := shape.Data[0][f]; !ok {
			t.Errorf("no %s in %s", f, body)
		}
	}
	if !bytes.Contains(body, []byte(`"effective_time":"2021-04-27T16:55:23+08:00"`)) || !bytes.Contains(body, []byte(`"associated_data":"certificate"`)) {
		t.Errorf("times or AAD not as WeChat Pay writes them: %s", body)
	}
	got, err := DecodeCertificates(body, []byte(testAPIv3Key), vecNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Serial != "D7CE59D1F522D701" || got[1].Serial != "F5765756002FDD77" {
		t.Fatalf("decoded %+v", got)
	}
	for _, pc := range got {
		if !pc.PublicKey.Equal(&testKey(t).PublicKey) || pc.Certificate == nil {
			t.Errorf("%s: wrong key", pc.Serial)
		}
	}
}

// TestDecodeCertificatesRefusals: a lying serial_no, another APIv3 key,
// a non-certificate plaintext, a duplicate, and answers left with no
// certificate valid now are refused; an expired entry beside a valid one
// is dropped.
func TestDecodeCertificatesRefusals(t *testing.T) {
	key := []byte(testAPIv3Key)
	c1 := testCert(t, "cert_D7CE59D1F522D701.pem")
	good, _ := EncodeCertificates([]*x509.Certificate{c1}, key)

	lying := bytes.Replace(good, []byte(`"serial_no":"D7CE59D1F522D701"`), []byte(`"serial_no":"F5765756002FDD77"`), 1)
	if _, err := DecodeCertificates(lying, key, vecNow); !isFormat(err) || !strings.Contains(err.Error(), "not the certificate's serial") {
		t.Errorf("lying serial_no: %v", err)
	}
	var de *DecryptError
	if _, err := DecodeCertificates(good, []byte("ffffffffffffffffffffffffffffffff"), vecNow); !errors.As(err, &de) {
		t.Errorf("other APIv3 key: %v", err)
	}
	r, _ := EncryptResource(key, []byte("hello"), "certificate", "")
	notCert, _ := json.Marshal(certificatesAnswer{Data: []certificateEntry{{SerialNo: "AB", EncryptCertificate: r}}})
	if _, err := DecodeCertificates(notCert, key, vecNow); !isFormat(err) {
		t.Errorf("plaintext not a certificate: %v", err)
	}
	dup, _ := EncodeCertificates([]*x509.Certificate{c1, c1}, key)
	if _, err := DecodeCertificates(dup, key, vecNow); !isFormat(err) {
		t.Errorf("duplicate: %v", err)
	}
	for name, b := range map[string]string{"empty list": `{"data":[]}`, "not JSON": `<html>`, "no data": `{}`} {
		if _, err := DecodeCertificates([]byte(b), key, vecNow); !isFormat(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The SDK certificates expire on 2031-04-25 and start on 2021-04-27.
	for name, at := range map[string]time.Time{"after expiry": time.Date(2031, 5, 1, 0, 0, 0, 0, time.UTC), "before start": time.Date(2021, 4, 1, 0, 0, 0, 0, time.UTC)} {
		if _, err := DecodeCertificates(good, key, at); !isFormat(err) || !strings.Contains(err.Error(), "valid now") {
			t.Errorf("%s: %v", name, err)
		}
	}
	now := time.Now()
	expired := selfSigned(t, generatedKey(t, 0), "0DEAD0", now.Add(-48*time.Hour), now.Add(-time.Hour))
	fresh := selfSigned(t, generatedKey(t, 1), "0BEEF0", now.Add(-time.Hour), now.Add(48*time.Hour))
	mixed, _ := EncodeCertificates([]*x509.Certificate{expired, fresh}, key)
	got, err := DecodeCertificates(mixed, key, now)
	if err != nil || len(got) != 1 || got[0].Serial != "0BEEF0" {
		t.Errorf("expired beside valid: %+v %v", got, err)
	}
}

func isFormat(err error) bool {
	var fe *FormatError
	return errors.As(err, &fe)
}
