// Copied into FerretDB's internal/backends/sqlite package by edit_sources.py.

package sqlite

import (
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// stringEqualityQuery returns a query that reads only the rows a filter like
// {"state": "dead"} or {"state": {"$in": ["dead", "failed"]}} can match: the rows whose
// field is one of the strings (found through an index on the field, when there is one)
// and the rows whose field is an array (MongoDB's equality also matches an element).
// It returns a superset; FerretDB applies the whole filter to every row afterwards.
//
// where and whereArgs are the conditions already derived from `_id`. ok is false when the
// filter names no such field or the query needs what this does not handle.
func stringEqualityQuery(table string, params *backends.QueryParams, where string, whereArgs []any) (q string, args []any, ok bool) {
	// A LIMIT would cut a superset short (FerretDB sets one only when there is no filter).
	if params.OnlyRecordIDs || params.Limit != 0 {
		return "", nil, false
	}

	var order string

	switch params.Sort.Len() {
	case 0:
	case 1:
		v, err := params.Sort.Get("_id")
		if err != nil {
			return "", nil, false
		}

		order = " ORDER BY _jp_id"
		if v.(int64) == -1 {
			order += " DESC"
		}
	default:
		return "", nil, false
	}

	field, values := stringEquality(params.Filter)
	if field == "" {
		return "", nil, false
	}

	column := fmt.Sprintf("%s->%q", metadata.DefaultColumn, field)

	conditions := " WHERE "
	if where != "" {
		conditions = where + " AND "
	}

	arm := fmt.Sprintf(`SELECT %s, %s AS _jp_id FROM %q%s`, metadata.DefaultColumn, metadata.IDColumn, table, conditions)
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(values)), ", ")

	// An array's JSON text starts with "[", so it sorts between "[" and "\".
	q = fmt.Sprintf(`%s%s IN (%s) UNION ALL %s%s > '[' AND %s < '\'%s`, arm, column, marks, arm, column, column, order)
	args = append(append(append(args, whereArgs...), values...), whereArgs...)

	return fmt.Sprintf(`SELECT %s FROM (%s)`, metadata.DefaultColumn, q), args, true
}

// stringEquality returns the first top-level field that the filter requires to equal one
// of a few plain strings, and those strings as SQLite's -> operator renders them.
func stringEquality(filter *types.Document) (string, []any) {
	for _, field := range filter.Keys() {
		if field == "_id" || !plainName(field) {
			continue
		}

		var values []any

		switch v := must.NotFail(filter.Get(field)).(type) {
		case string:
			values = []any{v}
		case *types.Document:
			in, _ := v.Get("$in")
			if list, ok := in.(*types.Array); ok {
				for i := 0; i < list.Len(); i++ {
					values = append(values, must.NotFail(list.Get(i)))
				}
			}
		}

		if rendered, ok := renderPlainStrings(values); ok {
			return field, rendered
		}
	}

	return "", nil
}

// renderPlainStrings renders strings whose JSON text needs no escapes (so the stored text
// and the rendered value are the same bytes); ok is false for anything else.
func renderPlainStrings(values []any) ([]any, bool) {
	if len(values) == 0 {
		return nil, false
	}

	rendered := make([]any, len(values))

	for i, v := range values {
		s, ok := v.(string)
		if !ok || !plainText(s) {
			return nil, false
		}

		rendered[i] = string(must.NotFail(sjson.MarshalSingleValue(s)))
	}

	return rendered, true
}

func plainText(s string) bool {
	for _, r := range s {
		if r < ' ' || r > '~' || strings.ContainsRune(`"\<>&`, r) {
			return false
		}
	}

	return true
}

func plainName(s string) bool {
	for i, r := range s {
		letter := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !letter && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}

	return s != ""
}
