package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestConcurrentReadersAndWriter(t *testing.T) {
	ctx := context.Background()
	s, _, _ := openTest(t)
	const (
		writes  = 150
		readers = 8
	)
	writerDone := make(chan struct{})
	var writeErr error
	go func() {
		defer close(writerDone)
		for i := range writes {
			c, err := s.CreateConference(ctx, NewConference(fmt.Sprintf("5%04d", i)))
			if err != nil {
				writeErr = err
				return
			}
			c.Name = fmt.Sprintf("renamed %d", i)
			if _, err := s.UpdateConference(ctx, c); err != nil {
				writeErr = err
				return
			}
			if err := s.SetSetting(ctx, "last", c.Number); err != nil {
				writeErr = err
				return
			}
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, readers)
	reads := make([]int, readers)
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := 0
			for done := false; !done; {
				select {
				case <-writerDone:
					done = true // one more pass after the last write
				default:
				}
				cs, err := s.ListConferences(ctx)
				if err != nil {
					errs <- err
					return
				}
				if len(cs) < last {
					errs <- fmt.Errorf("reader %d: %d conferences after %d", r, len(cs), last)
					return
				}
				last = len(cs)
				for _, c := range cs {
					if err := c.Validate(); err != nil {
						errs <- fmt.Errorf("reader %d: conference %s read back invalid: %w", r, c.Number, err)
						return
					}
				}
				if len(cs) > 0 {
					if _, err := s.GetConference(ctx, cs[len(cs)-1].ID); err != nil {
						errs <- fmt.Errorf("reader %d: listed conference not found: %w", r, err)
						return
					}
				}
				if _, _, err := s.GetSetting(ctx, "last"); err != nil {
					errs <- err
					return
				}
				reads[r]++
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	t.Run("the writer is never refused", func(t *testing.T) {
		wantErr(t, writeErr, nil, "")
	})
	t.Run("readers read while the writer writes and see all of it at the end", func(t *testing.T) {
		cs, err := s.ListConferences(ctx)
		wantErr(t, err, nil, "")
		if len(cs) != writes {
			t.Fatalf("%d conferences, want %d", len(cs), writes)
		}
		for r, n := range reads {
			if n < 2 {
				t.Errorf("reader %d completed only %d passes", r, n)
			}
		}
	})
}

func TestReadersDuringOpenWrite(t *testing.T) {
	ctx := context.Background()
	s, _, _ := openTest(t)
	_, err := s.CreateConference(ctx, NewConference("7001"))
	wantErr(t, err, nil, "")

	inTx, release := make(chan struct{}), make(chan struct{})
	writeDone := make(chan error)
	go func() {
		writeDone <- s.write(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO conferences (focus_id, number, created_at, updated_at)
				VALUES ('PENDING1', '7002', 0, 0)`)
			close(inTx)
			<-release
			return err
		})
	}()
	<-inTx

	t.Run("a reader is not blocked by an open write and does not see it", func(t *testing.T) {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		cs, err := s.ListConferences(rctx)
		wantErr(t, err, nil, "")
		if len(cs) != 1 {
			t.Fatalf("reader saw %d conferences during the write, want the 1 committed", len(cs))
		}
	})
	close(release)
	wantErr(t, <-writeDone, nil, "")

	t.Run("the write is visible once committed", func(t *testing.T) {
		_, err := s.ConferenceByNumber(ctx, "7002")
		wantErr(t, err, nil, "")
	})
}
