package focus

import (
	"fmt"

	"confab/mixer/prompt"
)

// PromptSource gives the Focus its prompts by name; *prompt.Library
// satisfies it. A name it does not have (nil) is skipped: a missing prompt
// must not stop a call, only make it quieter.
type PromptSource interface {
	Prompt(name string) *prompt.Prompt
}

// CountPrompter is a PromptSource that can say how many participants there
// are ("There are N participants"). Without it the Focus answers *0 with N
// short beeps.
type CountPrompter interface {
	CountPrompt(n int) *prompt.Prompt
}

// Names of the prompts the Focus plays.
const (
	PromptEnterPIN         = "enter-pin"
	PromptWrongPIN         = "wrong-pin"
	PromptFirstParticipant = "first-participant"
	PromptWaitingForLeader = "waiting-for-leader"
	PromptLocked           = "locked"
	PromptMuted            = "muted"
	PromptUnmuted          = "unmuted"
	PromptGoodbye          = "goodbye"
	PromptJoinTone         = "join-tone"
	PromptLeaveTone        = "leave-tone"
	PromptBeep             = "beep"
)

// maxCountBeeps caps the beeps that answer *0: past a score nobody counts
// them, and a big conference should not tie up a caller for a minute.
const maxCountBeeps = 20

// countPrompt returns the prompt that tells a caller there are n
// participants: the source's own if it can say numbers, else n beeps (the
// library's beep carries its own trailing silence, so they stay apart).
func countPrompt(src PromptSource, n int) *prompt.Prompt {
	if cp, ok := src.(CountPrompter); ok {
		if p := cp.CountPrompt(n); p != nil {
			return p
		}
	}
	beep := src.Prompt(PromptBeep)
	if beep == nil || n <= 0 {
		return nil
	}
	n = min(n, maxCountBeeps)
	pcm := make([]int16, 0, n*len(beep.PCM))
	for range n {
		pcm = append(pcm, beep.PCM...)
	}
	return prompt.New(fmt.Sprintf("count-%d", n), beep.Rate, pcm)
}
