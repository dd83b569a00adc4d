// Package status turns a reconcile result into a Node's status: the links
// that matter, the NIC inventory, VLAN IDs and conditions an operator can act
// on. Building is pure and leaves timestamps out, so two builds of the same
// host compare equal and an unchanged host costs no API write.
package status
