package attest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/golden"
)

// Errors an attestation's verification wraps.
var (
	// ErrMalformed marks an attestation that cannot be read: not a DSSE
	// envelope in JSON.
	ErrMalformed = errors.New("malformed attestation")
	// ErrSignature marks an envelope no signature of which verifies with
	// the given key.
	ErrSignature = errors.New("bad signature")
	// ErrStatement marks a signed payload that is not the statement this
	// package writes.
	ErrStatement = errors.New("not an aiconform report statement")
	// ErrMismatch marks a file whose sha256 is not the one attested or
	// recorded, or that was not found.
	ErrMismatch = errors.New("digest mismatch")
)

// File is a subject of an attestation: a file's name and bytes.
type File struct {
	Name string
	Data []byte
}

// NewStatement returns the statement about files, in their order, with
// the predicate of rep. Subject names must be distinct and not empty.
func NewStatement(rep *conformance.Report, files []File) (*Statement, error) {
	st := &Statement{Type: StatementType, PredicateType: PredicateType, Predicate: PredicateOf(rep)}
	seen := map[string]bool{}
	for _, f := range files {
		switch {
		case f.Name == "":
			return nil, errors.New("attest: a subject without a name")
		case seen[f.Name]:
			return nil, fmt.Errorf("attest: two subjects are named %s; subjects are told apart by name", f.Name)
		}
		seen[f.Name] = true
		st.Subject = append(st.Subject, Subject{Name: f.Name, Digest: map[string]string{DigestAlgorithm: golden.Digest(f.Data)}})
	}
	if len(st.Subject) == 0 {
		return nil, errors.New("attest: a statement needs a subject")
	}
	return st, nil
}

// Sign signs st with key and returns the DSSE envelope as indented JSON:
// payloadType PayloadType, the statement's JSON as payload, and one
// signature over the DSSE pre-authentication encoding, with the key's id.
func Sign(st *Statement, key *PrivateKey) ([]byte, error) {
	payload, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("attest: encoding the statement: %w", err)
	}
	es, err := dsse.NewEnvelopeSigner(signer{key})
	if err != nil {
		return nil, fmt.Errorf("attest: %w", err)
	}
	env, err := es.SignPayload(context.Background(), PayloadType, payload)
	if err != nil {
		return nil, fmt.Errorf("attest: signing: %w", err)
	}
	b, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("attest: encoding the envelope: %w", err)
	}
	return append(b, '\n'), nil
}

// signer signs DSSE envelopes with an Ed25519 key.
type signer struct{ key *PrivateKey }

func (s signer) Sign(_ context.Context, data []byte) ([]byte, error) {
	return ed25519.Sign(s.key.key, data), nil
}

func (s signer) KeyID() (string, error) { return s.key.Public().KeyID(), nil }

// verifier verifies DSSE signatures with an Ed25519 public key.
type verifier struct{ key *PublicKey }

func (v verifier) Verify(_ context.Context, data, sig []byte) error {
	if !ed25519.Verify(v.key.key, data, sig) {
		return errors.New("the Ed25519 signature does not verify")
	}
	return nil
}

func (v verifier) KeyID() (string, error) { return v.key.KeyID(), nil }

func (v verifier) Public() crypto.PublicKey { return v.key.key }

// sha256Pattern is a lowercase hex sha256.
var sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Open reads a DSSE envelope, checks its signature over the
// pre-authentication encoding with pub, and returns the statement it
// signs once its type, predicate type and subjects are this package's.
// name is the attestation's file in errors. The errors wrap ErrMalformed,
// ErrSignature or ErrStatement.
func Open(name string, envelope []byte, pub *PublicKey) (*Statement, error) {
	var env dsse.Envelope
	dec := json.NewDecoder(bytes.NewReader(envelope))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("%w: %s: not a DSSE envelope: %w", ErrMalformed, name, err)
	}
	if env.PayloadType == "" || env.Payload == "" {
		return nil, fmt.Errorf("%w: %s: not a DSSE envelope: no payloadType or payload", ErrMalformed, name)
	}
	ev, err := dsse.NewEnvelopeVerifier(verifier{pub})
	if err != nil {
		return nil, fmt.Errorf("attest: %w", err)
	}
	_, payload, err := ev.VerifyAndDecode(context.Background(), &env)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: no signature verifies with the public key %s (signed by %s)", ErrSignature, name, pub.KeyID(), signedBy(env))
	}
	if env.PayloadType != PayloadType {
		return nil, fmt.Errorf("%w: %s: payloadType %q, want %q", ErrStatement, name, env.PayloadType, PayloadType)
	}
	var st Statement
	dec = json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("%w: %s: the payload: %w", ErrStatement, name, err)
	}
	switch {
	case st.Type != StatementType:
		return nil, fmt.Errorf("%w: %s: _type %q, want %q", ErrStatement, name, st.Type, StatementType)
	case st.PredicateType != PredicateType:
		return nil, fmt.Errorf("%w: %s: predicateType %q, want %q", ErrStatement, name, st.PredicateType, PredicateType)
	case len(st.Subject) == 0:
		return nil, fmt.Errorf("%w: %s: no subject", ErrStatement, name)
	}
	seen := map[string]bool{}
	for i, s := range st.Subject {
		switch {
		case s.Name == "" || seen[s.Name]:
			return nil, fmt.Errorf("%w: %s: subject %d: name %q is empty or repeated", ErrStatement, name, i, s.Name)
		case !sha256Pattern.MatchString(s.SHA256()):
			return nil, fmt.Errorf("%w: %s: subject %s: no lowercase hex sha256 digest", ErrStatement, name, s.Name)
		}
		seen[s.Name] = true
	}
	return &st, nil
}

// signedBy lists the key ids of an envelope's signatures for messages.
func signedBy(env dsse.Envelope) string {
	var ids []string
	for _, s := range env.Signatures {
		id := s.KeyID
		if id == "" {
			id = "a key without id"
		}
		ids = append(ids, "key "+id)
	}
	if len(ids) == 0 {
		return "no key: the envelope has no signature"
	}
	return strings.Join(ids, ", ")
}

// SubjectCheck is the outcome of one subject: the attested sha256 and the
// sha256 of the file found for it ("" when none was found).
type SubjectCheck struct {
	Name string
	Want string
	Got  string
}

// Found reports whether a file was found for the subject.
func (c SubjectCheck) Found() bool { return c.Got != "" }

// OK reports whether the file found has the attested digest.
func (c SubjectCheck) OK() bool { return c.Got == c.Want }

// String says how the subject fared.
func (c SubjectCheck) String() string {
	switch {
	case !c.Found():
		return fmt.Sprintf("%s: not found (attested sha256 %s)", c.Name, c.Want)
	case !c.OK():
		return fmt.Sprintf("%s: MISMATCH: sha256 %s, attested %s", c.Name, c.Got, c.Want)
	}
	return fmt.Sprintf("%s: ok (sha256 %s)", c.Name, c.Got)
}

// Check compares every subject of st with the file of its name in files.
func (st *Statement) Check(files map[string][]byte) []SubjectCheck {
	out := make([]SubjectCheck, len(st.Subject))
	for i, s := range st.Subject {
		out[i] = SubjectCheck{Name: s.Name, Want: s.SHA256()}
		if b, ok := files[s.Name]; ok {
			out[i].Got = golden.Digest(b)
		}
	}
	return out
}

// SubjectError names every subject that did not match or was not found.
// errors.Is(err, ErrMismatch) holds for it.
type SubjectError struct {
	Failed []SubjectCheck
}

// Error lists the failed subjects.
func (e *SubjectError) Error() string {
	lines := make([]string, len(e.Failed))
	for i, c := range e.Failed {
		lines[i] = c.String()
	}
	return "attest: " + strings.Join(lines, "; ")
}

// Is makes errors.Is(err, ErrMismatch) true.
func (e *SubjectError) Is(target error) bool { return target == ErrMismatch }

// Verify opens the envelope with pub (see Open) and checks every subject
// against the file of its name in files. The error names every subject
// that does not match or was not found (a *SubjectError).
func Verify(name string, envelope []byte, pub *PublicKey, files map[string][]byte) (*Statement, error) {
	st, err := Open(name, envelope, pub)
	if err != nil {
		return nil, err
	}
	var failed []SubjectCheck
	for _, c := range st.Check(files) {
		if !c.OK() {
			failed = append(failed, c)
		}
	}
	if len(failed) > 0 {
		return st, &SubjectError{Failed: failed}
	}
	return st, nil
}
