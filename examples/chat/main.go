// Command chat is a small terminal chat that keeps its conversation in a session file,
// the main job of the session library: each line you type is a user message, a built-in
// local responder answers (no network, no API key), token usage is added up, and the
// session is saved after every turn. Run it again and the conversation resumes.
//
//	go run ./examples/chat                 # chat on chat-session.json
//	go run ./examples/chat -file my.json   # chat on another file
//	printf 'hi\nbye\n' | go run ./examples/chat
//
// Commands: /history [N], /usage, /name TEXT, /clear, /help, /quit.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/exllm-go/session"
)

const help = `Type a message and press Enter; the local responder answers.
Commands:
  /history [N]  the last N messages (default 10) with roles and times
  /usage        the tokens used so far (estimated)
  /name TEXT    name this session
  /clear        forget the messages (the token usage is kept)
  /help         this help
  /quit         leave (end of input does too)`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// chat is the state of one run: the session and where it is saved.
type chat struct {
	s       session.Session
	path    string
	window  int // tokens the responder's context window holds
	out     io.Writer
	stopped bool
}

// run runs the chat and returns the process's exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("chat", flag.ContinueOnError)
	flags.SetOutput(stderr)
	path := flags.String("file", "chat-session.json", "the session `file` to resume or create")
	window := flags.Int("window", 1024, "the local responder's context window, in estimated `tokens`")
	if err := flags.Parse(args); err != nil {
		return 2
	}

	c := &chat{path: *path, window: *window, out: stdout}
	s, err := session.LoadFromFile(c.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.s = session.New("local")
		fmt.Fprintf(stdout, "New session; it will be saved in %s. Type /help for commands.\n", c.path)
	case err != nil:
		fmt.Fprintf(stderr, "chat: cannot resume %s: %v\n", c.path, err)
		fmt.Fprintln(stderr, "chat: the file was left as it is; move it away or pass -file to start another.")
		return 1
	default:
		c.s = s
		fmt.Fprintf(stdout, "Resumed %s from %s: %s, %d tokens used (estimated).\n",
			describe(s), c.path, plural(s.Len(), "message"), s.TotalTokens())
	}

	interactive := isTerminal(stdin)
	lines := bufio.NewScanner(stdin)
	lines.Buffer(make([]byte, 64*1024), 1024*1024)
	for !c.stopped {
		if interactive {
			fmt.Fprint(stdout, "> ")
		}
		if !lines.Scan() {
			break
		}
		if err := c.handle(strings.TrimSpace(lines.Text())); err != nil {
			fmt.Fprintf(stderr, "chat: %v\n", err)
			return 1
		}
	}
	if err := lines.Err(); err != nil {
		fmt.Fprintf(stderr, "chat: reading input: %v\n", err)
		return 1
	}
	return 0
}

func describe(s session.Session) string {
	if s.Name() != "" {
		return strconv.Quote(s.Name())
	}
	return "session " + s.ID()
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// handle acts on one line of input: a command or a message.
func (c *chat) handle(line string) error {
	if line == "" {
		return nil
	}
	if !strings.HasPrefix(line, "/") {
		return c.turn(line)
	}
	command, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch command {
	case "/history":
		return c.history(arg)
	case "/usage":
		u := c.s.TokenUsage()
		fmt.Fprintf(c.out, "Tokens used (estimated, not a provider's count): %d in, %d out, %d in all.\n",
			u.InputTokens, u.OutputTokens, c.s.TotalTokens())
	case "/name":
		if arg == "" {
			fmt.Fprintln(c.out, "Usage: /name TEXT")
			return nil
		}
		c.s = c.s.SetName(arg)
		fmt.Fprintf(c.out, "This session is now named %q.\n", arg)
		return c.save()
	case "/clear":
		n := c.s.Len()
		c.s = c.s.ClearMessages()
		fmt.Fprintf(c.out, "Cleared %s; the token usage is kept.\n", plural(n, "message"))
		return c.save()
	case "/help":
		fmt.Fprintln(c.out, help)
	case "/quit":
		c.stopped = true
	default:
		fmt.Fprintf(c.out, "Unknown command %s; type /help for the list.\n", command)
	}
	return nil
}

func (c *chat) history(arg string) error {
	n := 10
	if arg != "" {
		var err error
		if n, err = strconv.Atoi(arg); err != nil || n <= 0 {
			fmt.Fprintln(c.out, "Usage: /history [N], with N a positive number of messages.")
			return nil
		}
	}
	msgs := c.s.GetMessages(n)
	if len(msgs) == 0 {
		fmt.Fprintln(c.out, "No messages yet.")
		return nil
	}
	for _, m := range msgs {
		when := "(no time)"
		if !m.Timestamp.IsZero() {
			when = m.Timestamp.Local().Format(time.DateTime)
		}
		fmt.Fprintf(c.out, "%s  %-9s %s\n", when, m.Role+":", m.Content)
	}
	return nil
}

// turn adds the user's message, the responder's answer and the turn's estimated token
// usage, and saves the session.
func (c *chat) turn(text string) error {
	c.s = c.s.AddMessage("user", text)
	// What a real app would send its model: as much recent history as fits.
	request := c.s.Window(c.window, session.EstimateTokens, session.KeepSystem())
	reply := respond(c.s, request)
	c.s = c.s.AddMessage("assistant", reply)

	usage := session.TokenUsage{OutputTokens: session.EstimateTokens(c.s.GetMessages(1)[0])}
	for _, m := range request {
		usage.InputTokens += session.EstimateTokens(m)
	}
	c.s = c.s.UpdateTokenUsage(usage)

	fmt.Fprintln(c.out, reply)
	fmt.Fprintf(c.out, "  [about %d tokens in, %d out: an estimate, not a provider's count]\n",
		usage.InputTokens, usage.OutputTokens)
	return c.save()
}

func (c *chat) save() error {
	return c.s.SaveToFile(c.path)
}

// respond is the local responder: a deterministic answer that shows it saw the history.
func respond(s session.Session, request []session.Message) string {
	var first, last string
	turns := 0
	for m := range s.Messages() {
		if m.Role == "user" {
			if turns == 0 {
				first = m.Content
			}
			last = m.Content
			turns++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "You said %q.", last)
	if turns == 1 {
		b.WriteString(" This is the first turn of our conversation.")
	} else {
		fmt.Fprintf(&b, " This is turn %d; you opened with %q.", turns, first)
	}
	if len(request) < s.Len() {
		fmt.Fprintf(&b, " I was sent the last %d of %d messages, all that fit my context window.", len(request), s.Len())
	} else {
		fmt.Fprintf(&b, " I was sent the whole conversation (%s).", plural(s.Len(), "message"))
	}
	return b.String()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
