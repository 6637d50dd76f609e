package api

// WireToken is wireToken, for the tests of package api_test.
var WireToken = wireToken
