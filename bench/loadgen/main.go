// Command loadgen sends a fixed number of HTTP requests from concurrent clients, each with
// its own bearer token and kept connection, and prints every latency as JSON. Given several
// URLs (one per server process), client i sends to URL i modulo their number, as a load
// balancer spreading connections would.
//
// bench/api.py builds and runs it: clients written in Go cost the machine a tenth of what
// Python clients cost, so on two cores the server's figures are the server's.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type report struct {
	Seconds   float64        `json:"seconds"`
	Latencies []float64      `json:"latencies_ms"`
	Statuses  map[string]int `json:"statuses"`
	Errors    []string       `json:"errors"`
}

func main() {
	urls := flag.String("urls", "", "the whole URL to request; several, comma-separated")
	method := flag.String("method", "GET", "GET or POST")
	body := flag.String("body", "", "JSON body of each request")
	tokens := flag.String("tokens", "", "file of bearer tokens, one a line: one client each")
	total := flag.Int("requests", 1000, "requests in all, shared by the clients")
	flag.Parse()

	bearers, err := readLines(*tokens)
	if err != nil || len(bearers) == 0 {
		fmt.Fprintf(os.Stderr, "loadgen: no tokens in %q: %v\n", *tokens, err)
		os.Exit(2)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: len(bearers)}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Minute}

	var next atomic.Int64
	var mu sync.Mutex
	out := report{Statuses: map[string]int{}}
	var wg sync.WaitGroup
	started := time.Now()
	targets := strings.Split(*urls, ",")
	for i, bearer := range bearers {
		url := targets[i%len(targets)]
		wg.Add(1)
		go func(bearer string) {
			defer wg.Done()
			for next.Add(1) <= int64(*total) {
				began := time.Now()
				status, err := send(client, *method, url, *body, bearer)
				elapsed := float64(time.Since(began).Microseconds()) / 1000
				mu.Lock()
				if err != nil {
					out.Errors = append(out.Errors, err.Error())
				} else {
					out.Latencies = append(out.Latencies, elapsed)
					out.Statuses[fmt.Sprint(status)]++
				}
				mu.Unlock()
			}
		}(bearer)
	}
	wg.Wait()
	out.Seconds = time.Since(started).Seconds()
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// send makes one request and reads its whole answer, so the connection is kept.
func send(client *http.Client, method, url, body, bearer string) (int, error) {
	var payload io.Reader
	if body != "" {
		payload = bytes.NewBufferString(body)
	}
	request, err := http.NewRequest(method, url, payload)
	if err != nil {
		return 0, err
	}
	request.Header.Set("Authorization", "Bearer "+bearer)
	if body != "" {
		request.Header.Set("Content-Type", "application/json")
	}
	response, err := client.Do(request)
	if err != nil {
		return 0, err
	}
	defer response.Body.Close()
	if _, err := io.Copy(io.Discard, response.Body); err != nil {
		return 0, err
	}
	return response.StatusCode, nil
}

func readLines(path string) ([]string, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	var lines []string
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		if line := strings.TrimSpace(scanner.Text()); line != "" {
			lines = append(lines, line)
		}
	}
	return lines, scanner.Err()
}
