package oauth

import (
	"net/url"
	"strings"
	"unicode"
)

// MaxIDLen bounds skill_id and app_id.
const MaxIDLen = 128

// maxFieldLen bounds client ids, secrets, endpoints and scopes.
const maxFieldLen = 2048

// ValidID reports whether s may be a skill_id or app_id: 1 to MaxIDLen
// characters from [A-Za-z0-9._-], not starting with a dot. Ids go into URL
// paths and keys, so nothing else is let through.
func ValidID(s string) bool {
	if s == "" || len(s) > MaxIDLen || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// ValidMungedID reports whether s may be a munged id: what ValidID allows,
// up to two ids and the separator long.
func ValidMungedID(s string) bool {
	return len(s) <= 2*MaxIDLen+1 && ValidID(s) && strings.Contains(s, "_")
}

func checkIDs(skillID, appID string) error {
	if skillID == "" {
		return errorf(CodeInvalidRequest, "skill_id is required")
	}
	if appID == "" {
		return errorf(CodeInvalidRequest, "app_id is required")
	}
	if !ValidID(skillID) {
		return errorf(CodeInvalidRequest, "skill_id must be 1 to %d characters of letters, digits, '.', '_' or '-'", MaxIDLen)
	}
	if !ValidID(appID) {
		return errorf(CodeInvalidRequest, "app_id must be 1 to %d characters of letters, digits, '.', '_' or '-'", MaxIDLen)
	}
	return nil
}

// checkEndpoint accepts an absolute http or https URL without a fragment or
// user info. Plain http stays allowed: a Home Assistant on the LAN is one.
func checkEndpoint(name, raw string, required bool) error {
	if raw == "" {
		if required {
			return errorf(CodeInvalidRequest, "%s is required", name)
		}
		return nil
	}
	if len(raw) > maxFieldLen {
		return errorf(CodeInvalidRequest, "%s is too long", name)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" || u.User != nil {
		return errorf(CodeInvalidRequest, "%s must be an absolute http or https URL", name)
	}
	return nil
}

// checkText accepts printable text without control characters.
func checkText(name, s string) error {
	if len(s) > maxFieldLen {
		return errorf(CodeInvalidRequest, "%s is too long", name)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return errorf(CodeInvalidRequest, "%s contains a control character", name)
		}
	}
	return nil
}

// reservedAuthParam reports whether the engine sets the authorization
// parameter itself, so a skill may not override it through auth_params.
func reservedAuthParam(name string) bool {
	switch name {
	case "response_type", "client_id", "redirect_uri", "state", "scope", "code_challenge", "code_challenge_method":
		return true
	}
	return false
}
