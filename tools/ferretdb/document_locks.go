// Copied into FerretDB's internal/handler package by edit_sources.py.

package handler

import "sync"

// collectionLocks holds a mutex for each "database.collection" that an update,
// findAndModify or delete command has changed.
var collectionLocks sync.Map

// lockCollection takes the lock of one collection's read-then-write commands and returns
// its release.
//
// Upstream reads the documents a command matches and writes them back in separate SQLite
// transactions, so two commands on one document could both read it before either wrote:
// one of two concurrent `$inc`s was lost, and two findAndModify calls guarded by the same
// field value could both match. Holding this lock from a command's read to its last
// write makes each change of a document atomic, as in MongoDB. Inserts and reads do not
// take it.
func lockCollection(db, collection string) func() {
	mu, _ := collectionLocks.LoadOrStore(db+"."+collection, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()

	return mu.(*sync.Mutex).Unlock
}
