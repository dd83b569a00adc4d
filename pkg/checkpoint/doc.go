// Package checkpoint is the agent's on-disk state: the file in the state
// directory (uplinks.json) that remembers which NICs harvnet enslaved and
// the permanent addresses and routes it moved onto the bridge for each.
// It is what gives a node its addresses back after a crash, so it is a
// contract: a versioned format of its own, decoupled from the planner's
// types, with a checksum, written atomically and durably, and read back
// either exactly or not at all. A file that cannot be trusted is reported
// as a *CorruptError naming the file and what is wrong with it; deciding
// what to do then is the caller's (the reconciler changes nothing).
package checkpoint
