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

// andIDIn adds `_id IN (?, ...)` to a query's WHERE clause when the filter's `_id`
// condition (cond, the document under "_id") has an `$in` of ObjectIds and plain strings,
// such as {"_id": {"$in": [ObjectId(...), ...]}}, so SQLite reads those rows through the
// `_id` index instead of the whole collection.
//
// Each value is spelled as the `_id` lookup of edit 2 spells it (the JSON text SQLite's
// -> operator renders), so every row whose `_id` equals one of them is read; FerretDB then
// applies the whole filter to those rows, so a superset is enough. A list holding anything
// else (numbers, null, regular expressions, documents, strings needing escapes in JSON)
// is left to FerretDB as before. An empty list reads no rows: it matches nothing.
func andIDIn(where string, args []any, cond *types.Document) (string, []any) {
	in, err := cond.Get("$in")
	if err != nil {
		return where, args
	}

	list, ok := in.(*types.Array)
	if !ok {
		return where, args
	}

	values := make([]any, list.Len())

	for i := range values {
		switch v := must.NotFail(list.Get(i)).(type) {
		case types.ObjectID:
			values[i] = string(must.NotFail(sjson.MarshalSingleValue(v)))
		case string:
			if !plainText(v) {
				return where, args
			}

			values[i] = string(must.NotFail(sjson.MarshalSingleValue(v)))
		default:
			return where, args
		}
	}

	marks := strings.TrimSuffix(strings.Repeat("?, ", len(values)), ", ")
	condition := fmt.Sprintf(`%s IN (%s)`, metadata.IDColumn, marks)

	if where == "" {
		where = " WHERE " + condition
	} else {
		where += " AND " + condition
	}

	return where, append(args, values...)
}
