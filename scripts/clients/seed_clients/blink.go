// A Blink-Store client in Go with the standard library only.
// Run: go run blink.go   (BLINK_HOST and BLINK_PORT pick the server)
package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"strings"
)

// blink sends one request on its own connection and returns the reply,
// with a value decoded from base64.
func blink(command string) (string, error) {
	conn, err := net.Dial("tcp", net.JoinHostPort(env("BLINK_HOST", "127.0.0.1"), env("BLINK_PORT", "8765")))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "%s\n", command); err != nil {
		return "", err
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", err
	}
	reply = strings.TrimSuffix(reply, "\n")
	if strings.HasPrefix(reply, "VALUE ") {
		value, err := base64.StdEncoding.DecodeString(reply[len("VALUE "):])
		return string(value), err
	}
	return reply, nil
}

func env(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func main() {
	for _, command := range []string{
		"SET greeting hello world", // OK
		"GET greeting",             // hello world
		"USAGE",                    // USAGE 19
		"GET nosuch",               // NOT_FOUND
		"DELETE greeting",          // OK
	} {
		reply, err := blink(command)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(reply)
	}
}
