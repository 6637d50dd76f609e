//go:build !linux

package main

// dropStartPages does nothing outside Linux (see pages_linux.go).
func dropStartPages() {}
