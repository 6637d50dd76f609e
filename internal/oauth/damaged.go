package oauth

import (
	"context"
	"strings"
)

// Damaged lists the stored records of skillID's apps (of all apps when it
// is "") that did not open or decode and were set aside, oldest first.
// Munged ids are ambiguous, so for a skill it lists every record whose
// munged id starts with the skill id and "_": a record of an app no longer
// registered says no more than its munged id.
func (e *Engine) Damaged(_ context.Context, skillID string) ([]DamagedRecord, error) {
	if skillID != "" && !ValidID(skillID) {
		return nil, errorf(CodeInvalidRequest, "skill_id must be 1 to %d characters of letters, digits, '.', '_' or '-'", MaxIDLen)
	}
	all, err := e.store.Damaged()
	if err != nil {
		return nil, internalErr("list the damaged records", err)
	}
	if skillID == "" {
		return all, nil
	}
	var out []DamagedRecord
	for _, d := range all {
		if strings.HasPrefix(d.MungedID, skillID+"_") {
			out = append(out, d)
		}
	}
	return out, nil
}
