package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// logoutAll posts every token of file to a wechat_logout URL, so that the
// benchmark's gate carries that many ended sessions, and fails unless
// each answer is 204.
func logoutAll(file, url string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	toks := make(chan string)
	var failed atomic.Int64
	var firstErr atomic.Value
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for tok := range toks {
				if err := logout(client, url, tok); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if tok := strings.TrimSpace(sc.Text()); tok != "" {
			toks <- tok
		}
	}
	close(toks)
	wg.Wait()
	if err := sc.Err(); err != nil {
		return err
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d logouts failed, the first: %v", n, firstErr.Load())
	}
	return nil
}

func logout(client *http.Client, url, tok string) error {
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
