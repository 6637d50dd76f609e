package bus

import "time"

// SetPingInterval shortens c's ping interval (and so its dead-connection
// timeout, three intervals) for tests. Call it before Run.
func SetPingInterval(c *Client, d time.Duration) { c.pingInterval = d }

// SealWithNonce is Cipher.Seal with a chosen nonce, to reproduce test
// vectors made elsewhere.
func SealWithNonce(c *Cipher, plaintext, nonce []byte) []byte { return c.seal(plaintext, nonce) }
