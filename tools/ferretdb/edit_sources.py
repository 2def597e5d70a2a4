"""Edit the vendored FerretDB 1.24.2 sources before `scripts/build-ferretdb.sh` builds them.

Upstream's SQLite backend hands SQLite nothing but a lookup by `_id` when `_id` is a
filter's only key, and even then SQLite cannot use the `_id` index (the index and the query
spell the `_id` expression differently). So every query of the platform reads and decodes
the whole collection. These edits, each checked to apply exactly once:

1. spell the `_id` expression in queries as the index spells it;
2. narrow a query in SQL by `_id` whenever the filter names a plain `_id` value or an
   ObjectId range on `_id` (`$lt`, `$lte`, `$gt`, `$gte`), even with other conditions;
   FerretDB applies the whole filter to the rows it reads anyway, so SQL only has to
   return a superset (keyset pages of the job list filter on an `_id` range);
3. let a find sorted by `_id` alone walk the `_id` index in order instead of sorting the
   whole collection in memory, so a first page with a limit reads only the rows it returns.
   Rows come in the order of their stored JSON text, which is the order of MongoDB for a
   collection whose `_id`s are all ObjectIds (the platform's) or all strings;
4. narrow a query in SQL when the filter requires a top-level field to equal a plain
   string or one of a list (`{"state": {"$in": ["dead"]}}`), through an index on that
   field when one exists, keeping `_id` order (`string_equality.go`, copied in; it also
   reads the rows where the field holds an array, as MongoDB's equality looks into them);
5. narrow a text search (an `$or` of escaped-text `$regex` conditions, and `_id`) in SQL
   with a LIKE on each row's stored JSON text (`substring_search.go`, copied in);
6. release each statement's SQLite connection as soon as the statement of an `update`
   command is done: upstream kept them all until the command ended, so a command of 100
   statements took the pool's 100 connections and hung every client;
7. let an update of one document read it and release its rows before writing it back, so
   SQLite can restart its write-ahead log (it cannot while a reader uses the log);
8. narrow an `$in` of ObjectIds or plain strings on `_id` in SQL to `_id IN (...)`
   (`id_in.go`, copied in), a superset FerretDB still filters;
9. let findAndModify, too, read its document and release its rows before writing;
10. make update, findAndModify and delete atomic per document, as in MongoDB: each holds
    a lock of its collection from its read to its last write (`document_locks.go`, copied
    in). Upstream read and wrote in separate transactions, so concurrent `$inc`s were
    lost and two claims guarded by one state could both match;
11. track the lifetime of iterators and cursors only in debug builds: upstream records
    each one's stack in a pprof profile and sets a finalizer that panics the server when
    one is not closed, for every document a command reads (a seventh of FerretDB's CPU
    on a page of the job list). The debug build (`-tags ferretdb_debug`) still tracks.
"""

from __future__ import annotations

import sys
from pathlib import Path

EDITS = [
    (
        "internal/backends/sqlite/metadata/metadata.go",
        "IDColumn = DefaultColumn + \"->'$._id'\"",
        'IDColumn = DefaultColumn + `->"_id"`',
        1,
    ),
    (
        "internal/backends/sqlite/collection.go",
        "\tif params.Filter.Len() == 1 {\n"
        '\t\tv, _ := params.Filter.Get("_id")\n'
        "\t\tswitch v.(type) {\n"
        "\t\tcase string, types.ObjectID:\n"
        "\t\t\twhereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)\n"
        "\t\t\targs = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}\n"
        "\t\t}\n",
        "\tif params.Filter != nil {\n"
        '\t\tv, _ := params.Filter.Get("_id")\n'
        "\t\tswitch v.(type) {\n"
        "\t\tcase string, types.ObjectID:\n"
        "\t\t\twhereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)\n"
        "\t\t\targs = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}\n"
        "\t\tcase *types.Document:\n"
        '\t\t\tfor _, op := range [][2]string{{"$lt", "<"}, {"$lte", "<="}, '
        '{"$gt", ">"}, {"$gte", ">="}} {\n'
        "\t\t\t\tbound, err := v.(*types.Document).Get(op[0])\n"
        "\t\t\t\tif _, ok := bound.(types.ObjectID); err != nil || !ok {\n"
        "\t\t\t\t\tcontinue\n"
        "\t\t\t\t}\n"
        '\t\t\t\tif whereClause == "" {\n'
        '\t\t\t\t\twhereClause = " WHERE "\n'
        "\t\t\t\t} else {\n"
        '\t\t\t\t\twhereClause += " AND "\n'
        "\t\t\t\t}\n"
        "\t\t\t\twhereClause += fmt.Sprintf(`%s %s ?`, metadata.IDColumn, op[1])\n"
        "\t\t\t\targs = append(args, string(must.NotFail(sjson.MarshalSingleValue(bound))))\n"
        "\t\t\t}\n"
        "\t\t}\n",
        1,
    ),
    (
        "internal/backends/sqlite/collection.go",
        "\tq += whereClause\n"
        "\tq += prepareOrderByClause(params.Sort)\n\n"
        "\tif params.Limit != 0 {\n"
        "\t\tq += ` LIMIT ?`\n"
        "\t\targs = append(args, params.Limit)\n"
        "\t}\n",
        "\tif sq, sargs, ok := stringEqualityQuery(meta.TableName, params, whereClause, args); "
        "ok && !meta.Capped() {\n"
        "\t\tq, args = sq, sargs\n"
        "\t} else {\n"
        "\t\tq += whereClause\n"
        "\t\tq += prepareOrderByClause(params.Sort)\n\n"
        "\t\tif params.Limit != 0 {\n"
        "\t\t\tq += ` LIMIT ?`\n"
        "\t\t\targs = append(args, params.Limit)\n"
        "\t\t}\n"
        "\t}\n",
        1,
    ),
    (
        "internal/backends/sqlite/collection.go",
        "\tif sq, sargs, ok := stringEqualityQuery(",
        "\tif condition, conditionArgs, ok := substringCondition(params.Filter); "
        "ok && params.Limit == 0 {\n"
        '\t\tif whereClause == "" {\n'
        '\t\t\twhereClause = " WHERE " + condition\n'
        "\t\t} else {\n"
        '\t\t\twhereClause += " AND " + condition\n'
        "\t\t}\n\n"
        "\t\targs = append(args, conditionArgs...)\n"
        "\t}\n\n"
        "\tif sq, sargs, ok := stringEqualityQuery(",
        1,
    ),
    (
        "internal/backends/sqlite/query.go",
        '\tv := must.NotFail(sort.Get("$natural"))\n',
        '\tif v, err := sort.Get("_id"); err == nil {\n'
        "\t\tif v.(int64) == -1 {\n"
        '\t\t\treturn fmt.Sprintf(" ORDER BY %s DESC", metadata.IDColumn)\n'
        "\t\t}\n\n"
        '\t\treturn fmt.Sprintf(" ORDER BY %s", metadata.IDColumn)\n'
        "\t}\n\n"
        '\tv := must.NotFail(sort.Get("$natural"))\n',
        1,
    ),
    (
        "internal/backends/collection.go",
        'sortValue := params.Sort.Map()["$natural"].(int64)',
        "sortValue := params.Sort.Map()[params.Sort.Keys()[0]].(int64)",
        2,
    ),
    (
        "internal/handler/msg_find.go",
        "\tcase params.Sort.Len() == 1:\n",
        '\tcase params.Sort.Len() == 1 && params.Sort.Keys()[0] == "_id" && !cInfo.Capped():\n'
        "\t\tqp.Sort = params.Sort\n"
        "\t\tparams.Sort = nil\n\n"
        "\tcase params.Sort.Len() == 1:\n",
        1,
    ),
    # The hang: an update command's statements each query the collection, and the query
    # holds one of the SQLite pool's 100 connections until its rows are closed. Upstream
    # closes them with a `defer` inside the statement loop, so only when the whole command
    # returns; a statement that matched one document (`multi: false`) stops reading before
    # its rows end, so its connection stays taken. The 100th such statement takes the last
    # connection and its write then waits for a free one forever, and so does every other
    # client. Close each statement's rows as soon as that statement is done. (The next edit
    # closes a `multi: false` statement's rows even before its write; this one still
    # releases whatever any statement holds when it ends.)
    (
        "internal/handler/msg_update.go",
        '\t\tresult, err := common.UpdateDocument(ctx, c, "update", iter, &u)\n'
        "\t\tif err != nil {\n",
        '\t\tresult, err := common.UpdateDocument(ctx, c, "update", iter, &u)\n'
        "\t\tcloser.Close() // release this statement's connection now, not at return\n\n"
        "\t\tif err != nil {\n",
        1,
    ),
    # A statement that changes one document (`multi: false`, the platform's every update)
    # read its document and then wrote it back while its rows were still open, so each of
    # its commits ran with a reader on the database. SQLite cannot restart its write-ahead
    # log while a reader uses it, so with only such writes the log grew without end (56 MB
    # after 3,000 updates) and each commit's automatic checkpoint walked all of it. Read
    # the one document and close the rows first, then apply the update to that document
    # (its slice iterator joins the closer: FerretDB panics on an iterator never closed).
    (
        "internal/handler/msg_update.go",
        "\t\tif !u.Multi {\n\t\t\titer = common.LimitIterator(iter, closer, 1)\n\t\t}\n",
        "\t\tif !u.Multi {\n"
        "\t\t\tdocs, err := iterator.ConsumeValues(common.LimitIterator(iter, closer, 1))\n"
        "\t\t\tcloser.Close()\n\n"
        "\t\t\tif err != nil {\n"
        "\t\t\t\treturn 0, 0, nil, lazyerrors.Error(err)\n"
        "\t\t\t}\n\n"
        "\t\t\titer = iterator.Values(iterator.ForSlice(docs))\n"
        "\t\t\tcloser.Add(iter)\n"
        "\t\t}\n",
        1,
    ),
    # After the `_id` ranges of edit 2, narrow an `_id` `$in` of ObjectIds or plain strings
    # to `_id IN (...)` (`id_in.go`): upstream read the whole collection for it, so an
    # update_many or find of 50 ids took seconds with 20,000 jobs stored.
    (
        "internal/backends/sqlite/collection.go",
        "\t\t\t\targs = append(args, string(must.NotFail(sjson.MarshalSingleValue(bound))))\n"
        "\t\t\t}\n",
        "\t\t\t\targs = append(args, string(must.NotFail(sjson.MarshalSingleValue(bound))))\n"
        "\t\t\t}\n\n"
        "\t\t\twhereClause, args = andIDIn(whereClause, args, v.(*types.Document))\n",
        1,
    ),
    # findAndModify (find_one_and_update, ..._delete) changes one document too, and wrote it
    # while its read was still open, with the same effect on the write-ahead log as the
    # `multi: false` update above. Read the document first: consuming the iterator closes
    # the rows. (The closer also holds maxTimeMS's cancel, so it must stay open until the
    # write is done.)
    (
        "internal/handler/msg_findandmodify.go",
        "\titer = common.LimitIterator(iter, closer, 1)\n",
        "\tdocs, err := iterator.ConsumeValues(common.LimitIterator(iter, closer, 1))\n"
        "\tif err != nil {\n"
        "\t\treturn nil, lazyerrors.Error(err)\n"
        "\t}\n\n"
        "\titer = iterator.Values(iterator.ForSlice(docs))\n"
        "\tcloser.Add(iter)\n",
        1,
    ),
    # Edit 10: hold the collection's lock (document_locks.go) from each read-then-write
    # command's read to its last write, so no other such command changes a document in
    # between. An update command takes it once for all its statements.
    (
        "internal/handler/msg_update.go",
        "\tvar matched, modified int32\n\tvar upserted types.Array\n",
        "\tvar matched, modified int32\n\tvar upserted types.Array\n\n"
        "\tdefer lockCollection(params.DB, params.Collection)()\n",
        1,
    ),
    (
        "internal/handler/msg_findandmodify.go",
        "(*findAndModifyResult, error) {\n",
        "(*findAndModifyResult, error) {\n"
        "\tdefer lockCollection(params.DB, params.Collection)()\n\n",
        1,
    ),
    (
        "internal/handler/msg_delete.go",
        "\tparams, err := common.GetDeleteParams(document, h.L)\n"
        "\tif err != nil {\n"
        "\t\treturn nil, lazyerrors.Error(err)\n"
        "\t}\n",
        "\tparams, err := common.GetDeleteParams(document, h.L)\n"
        "\tif err != nil {\n"
        "\t\treturn nil, lazyerrors.Error(err)\n"
        "\t}\n\n"
        "\tdefer lockCollection(params.DB, params.Collection)()\n",
        1,
    ),
    (
        "internal/util/resource/resource.go",
        "func Track(obj any, token *Token) {\n\tcheckArgs(obj, token)\n",
        "func Track(obj any, token *Token) {\n\tcheckArgs(obj, token)\n\n"
        "\tif !debugbuild.Enabled {\n\t\treturn\n\t}\n",
        1,
    ),
    (
        "internal/util/resource/resource.go",
        "func Untrack(obj any, token *Token) {\n\tcheckArgs(obj, token)\n",
        "func Untrack(obj any, token *Token) {\n\tcheckArgs(obj, token)\n\n"
        "\tif !debugbuild.Enabled {\n\t\treturn\n\t}\n",
        1,
    ),
]


ADDED_FILES = {
    **{
        name: f"internal/backends/sqlite/{name}"
        for name in ("string_equality.go", "substring_search.go", "id_in.go")
    },
    "document_locks.go": "internal/handler/document_locks.go",
}


def main(root: Path) -> None:
    for source, target in ADDED_FILES.items():
        (root / target).write_text((Path(__file__).parent / source).read_text())
    for path, old, new, count in EDITS:
        file = root / path
        text = file.read_text()
        found = text.count(old)
        if found != count:
            sys.exit(f"edit_sources: expected {count} of {old!r} in {path}, found {found}")
        file.chmod(0o644)
        file.write_text(text.replace(old, new))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
