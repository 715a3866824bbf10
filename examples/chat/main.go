// Command chat is a terminal chat on the session library, its reference app: each line
// you type is a user message; a model answers, streamed as it comes; the session keeps
// the conversation, its tool calls and token usage, and is saved after every turn. Run
// it again and the conversation resumes.
//
//	go run ./examples/chat                       # the built-in local responder
//	go run ./examples/chat -model gpt-4o-mini    # OpenAI (OPENAI_API_KEY)
//	go run ./examples/chat -base-url http://localhost:11434/v1 -model llama3.2  # Ollama
//	go run ./examples/chat -db sqlite:chats.db   # many sessions in a database
//
// Type /help for the commands and flags.
//
// The exit status is 0 when the chat ends at the end of input or /quit, even after
// commands that failed and were reported (a session that does not exist, a name that
// could not be saved); 1 when a turn went unanswered (the model failed: nothing of that
// turn was saved), when the chat cannot start (its file or database) or when a save
// failed (the session is as of its last save); 2 for flags it does not know; 130 after
// Ctrl-C.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/exllm-go/session"
	"github.com/exllm-go/session/internal/examplekit/llm"
)

const commands = `Commands:
  /history [N]  the last N messages (default 10) with roles and times
  /usage        the tokens used so far, and their cost with -price
  /retry        answer the last message again (the old answer's usage stays counted)
  /name TEXT    name this session
  /clear        forget the messages (the token usage is kept)
  /sessions     the sessions kept with -db, newest first
  /new          start a new session
  /switch ID    go on with another session kept with -db
  /summary      the summary the model is sent instead of the earliest messages
  /compact      fold all but the last turn into the summary now
  /help         this help
  /quit         leave (so does the end of input, Ctrl-D)`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, isTerminal(os.Stdin)))
}

// exitInterrupted is the exit status after Ctrl-C, as a shell reports SIGINT.
const exitInterrupted = 130

// run runs the chat and returns the process's exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, interactive bool) int {
	flags := flag.NewFlagSet("chat", flag.ContinueOnError)
	flags.SetOutput(stderr)
	path := flags.String("file", "chat-session.json", "keep the session in this JSON `file` (ExLLM's format)")
	dsn := flags.String("db", "", "keep sessions in a database: sqlite:`PATH` or a postgres:// URL")
	provider := flags.String("provider", llm.ProviderOpenAI, "the model's API: openai (Chat Completions), openai-responses, anthropic or gemini")
	baseURL := flags.String("base-url", "", "the provider's endpoint (`URL`): http://localhost:11434/v1 for Ollama's Chat Completions; Anthropic's and Gemini's take the host's root")
	modelName := flags.String("model", "", "the `model` to ask (API key in OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY or GOOGLE_API_KEY)")
	window := flags.Int("window", 8192, "the model's context window, in `tokens`, less room for its answer")
	priceFlag := flags.String("price", "", "prices per million tokens, `IN,CACHE_READ,CACHE_WRITE,OUT`, for /usage to show a cost")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "Usage: chat [flags]\nFlags:")
		flags.PrintDefaults()
		fmt.Fprintln(stderr, commands)
	}
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "chat: unexpected argument %q: the chat takes only flags (see -help); type messages once it runs\n", flags.Arg(0))
		return 2
	}
	price, err := parsePrice(*priceFlag)
	if err != nil {
		fmt.Fprintf(stderr, "chat: -price: %v\n", err)
		return 2
	}
	m, err := llm.Choose(*provider, *baseURL, *modelName, tools...)
	if err != nil {
		fmt.Fprintf(stderr, "chat: %v\n", err)
		return 2
	}

	ctx := context.Background()
	c := &chat{model: m, window: *window, price: price, out: stdout, errOut: stderr}
	if err := c.open(ctx, *path, *dsn); err != nil {
		fmt.Fprintf(stderr, "chat: %v\n", err)
		return 1
	}
	defer func() {
		if err := c.store.close(); err != nil {
			fmt.Fprintf(stderr, "chat: closing %s: %v\n", c.store, err)
		}
	}()
	return c.loop(stdin, interactive)
}

// parsePrice reads -price: four numbers, per million tokens.
func parsePrice(text string) (*session.Price, error) {
	if text == "" {
		return nil, nil
	}
	fields := strings.Split(text, ",")
	if len(fields) != 4 {
		return nil, fmt.Errorf("%q: give four prices per million tokens, IN,CACHE_READ,CACHE_WRITE,OUT", text)
	}
	var p [4]float64
	for i, f := range fields {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%q is not a price", f)
		}
		p[i] = v
	}
	return &session.Price{Input: p[0], CacheRead: p[1], CacheWrite: p[2], Output: p[3]}, nil
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// readLines sends the lines of r, of any length, without their line ends, and closes
// the channel at the end of input.
func readLines(r io.Reader) <-chan string {
	lines := make(chan string)
	go func() {
		defer close(lines)
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			if line != "" || err == nil {
				lines <- strings.TrimRight(line, "\r\n")
			}
			if err != nil {
				return
			}
		}
	}()
	return lines
}

// loop reads lines and acts on them until the end of input, /quit or Ctrl-C, and
// returns the exit status.
func (c *chat) loop(stdin io.Reader, interactive bool) int {
	interrupts := make(chan os.Signal, 1)
	signal.Notify(interrupts, os.Interrupt)
	defer signal.Stop(interrupts)
	lines := readLines(stdin)
	for !c.stopped {
		if interactive {
			fmt.Fprint(c.out, "> ")
		}
		var line string
		var ok bool
		select {
		case line, ok = <-lines:
		case <-interrupts:
			fmt.Fprintln(c.out)
			return exitInterrupted
		}
		if !ok {
			if interactive {
				fmt.Fprintln(c.out) // leave the shell's prompt on a line of its own
			}
			break
		}
		ctx, cancel := context.WithCancel(context.Background())
		var interrupted atomic.Bool
		done := make(chan struct{})
		go func() {
			select {
			case <-interrupts:
				interrupted.Store(true)
				cancel()
			case <-done:
			}
		}()
		err := c.handle(ctx, strings.TrimSpace(line))
		close(done)
		cancel()
		if interrupted.Load() {
			fmt.Fprintln(c.out, "\nInterrupted: the answer was cancelled and not saved; the session is as of the last whole turn.")
			return exitInterrupted
		}
		if err != nil {
			fmt.Fprintf(c.errOut, "chat: %v\n", err)
			return 1
		}
	}
	c.farewell()
	if c.failed {
		return 1
	}
	return 0
}

// farewell says, when the chat ends, what it did not save.
func (c *chat) farewell() {
	if !c.stored {
		fmt.Fprintf(c.out, "No messages yet: nothing was saved in %s.\n", c.store)
	}
}

// resume loads the session the chat goes on with: the file's, or the newest in the
// database; a new one if there is none.
func (c *chat) resume(ctx context.Context) error {
	var s session.Session
	var err error
	if f, ok := c.store.(*fileStore); ok {
		s, err = c.store.load(ctx, "")
		if errors.Is(err, fs.ErrNotExist) {
			c.s = session.New(c.backend())
			fmt.Fprintf(c.out, "New session; it will be saved in %s. Type /help for commands.\n", f.path)
			return nil
		}
		if err != nil {
			return fmt.Errorf("cannot resume %s: %w\nchat: the file was left as it is; move it away or pass -file to start another", f.path, err)
		}
	} else {
		infos, err := c.store.list(ctx, 1)
		if err != nil {
			return err
		}
		if len(infos) == 0 {
			c.s = session.New(c.backend())
			fmt.Fprintf(c.out, "New session; it will be kept in %s. Type /help for commands.\n", c.store)
			return nil
		}
		if s, err = c.store.load(ctx, infos[0].ID); err != nil {
			return err
		}
	}
	c.s, c.stored = s, true
	fmt.Fprintf(c.out, "Resumed %s from %s: %s, %d tokens used.\n",
		describe(s), c.store, plural(s.Len(), "message"), s.TotalTokens())
	return nil
}

func describe(s session.Session) string {
	if s.Name() != "" {
		return strconv.Quote(s.Name()) + " (" + s.ID() + ")"
	}
	return "session " + s.ID()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
