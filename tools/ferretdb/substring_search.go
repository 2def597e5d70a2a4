// Copied into FerretDB's internal/backends/sqlite package by edit_sources.py.

package sqlite

import (
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

var likeEscaper = strings.NewReplacer(`%`, `\%`, `_`, `\_`)

// substringCondition returns an SQL condition that keeps every row a text search like
// {"$or": [{field: {"$regex": <escaped text>, "$options": "i"}}, ..., {"_id": <ObjectId>}]}
// can match. A string that contains the text appears byte for byte in the row's stored
// JSON when the text has no character JSON escapes, so a LIKE on the whole row (which
// ignores ASCII case) is enough, whatever the field. It is a superset; FerretDB applies
// the whole filter to the rows it returns. ok is false for any other shape of filter.
func substringCondition(filter *types.Document) (condition string, args []any, ok bool) {
	v, err := filter.Get("$or")
	if err != nil {
		return "", nil, false
	}

	branches, ok := v.(*types.Array)
	if !ok || branches.Len() == 0 {
		return "", nil, false
	}

	var conditions []string

	searched := make(map[string]bool) // the same text in several fields needs one LIKE

	for i := 0; i < branches.Len(); i++ {
		branch, ok := must.NotFail(branches.Get(i)).(*types.Document)
		if !ok || branch.Len() != 1 {
			return "", nil, false
		}

		field := branch.Keys()[0]
		value := must.NotFail(branch.Get(field))

		if id, ok := value.(types.ObjectID); ok && field == "_id" {
			conditions = append(conditions, metadata.IDColumn+` = ?`)
			args = append(args, string(must.NotFail(sjson.MarshalSingleValue(id))))

			continue
		}

		text, caseless, ok := regexText(value)
		if !ok {
			return "", nil, false
		}

		if searched[text] {
			continue
		}

		searched[text] = true

		conditions = append(conditions, metadata.DefaultColumn+` LIKE ? ESCAPE '\'`)
		args = append(args, "%"+likeEscaper.Replace(text)+"%")

		if caseless && strings.ContainsAny(text, "kKsS") {
			// The Kelvin sign and the long s match k and s ignoring case: keep rows
			// holding any character beyond ASCII (more characters than bytes).
			conditions = append(conditions, fmt.Sprintf(
				"length(%[1]s) != octet_length(%[1]s)", metadata.DefaultColumn,
			))
		}
	}

	return "(" + strings.Join(conditions, " OR ") + ")", args, true
}

// regexText returns the text a {"$regex": ..., "$options": ...} condition matches
// literally, when its pattern is escaped text (`bench\-99`, as Python's re.escape writes
// it) with options "" or "i", and the text is plain (see plainText).
func regexText(value any) (text string, caseless, ok bool) {
	condition, ok := value.(*types.Document)
	if !ok {
		return "", false, false
	}

	var pattern, options string

	for _, key := range condition.Keys() {
		s, isString := must.NotFail(condition.Get(key)).(string)

		switch {
		case !isString:
			return "", false, false
		case key == "$regex":
			pattern = s
		case key == "$options" && (s == "" || s == "i"):
			options = s
		default:
			return "", false, false
		}
	}

	if !condition.Has("$regex") {
		return "", false, false
	}

	var b strings.Builder

	for i := 0; i < len(pattern); i++ {
		c := pattern[i]

		switch {
		case c == '\\':
			i++
			if i == len(pattern) || isAlphanumeric(pattern[i]) {
				return "", false, false
			}

			c = pattern[i]
		case strings.IndexByte(`.^$*+?()[]{}|`, c) >= 0:
			return "", false, false
		}

		b.WriteByte(c)
	}

	text = b.String()

	return text, options == "i", plainText(text)
}

func isAlphanumeric(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
