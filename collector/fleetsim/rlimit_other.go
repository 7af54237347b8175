//go:build !unix

package main

// raiseFDLimit: other systems have no such limit to raise.
func raiseFDLimit(need uint64) (uint64, error) { return need, nil }
