package pgsvc.pooler.config;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import java.util.Set;

/**
 * PgBouncer's ini syntax ({@code lib/usual/cfparser.c parse_ini_file_internal}), scanned character by character the
 * way the C code does so that odd but valid files load the same: a comment is only a line whose first non-blank is
 * {@code ;} or {@code #}; a {@code ;} later in a line belongs to the value; keys are {@code [A-Za-z0-9_.*-]+} or
 * {@code 'single quoted'}; the value is the rest of the line with trailing blanks removed and nothing unquoted.
 * {@code %include <file>} may appear anywhere, also inside a section, and is resolved against the process's working
 * directory (not the including file's directory), as PgBouncer does.
 *
 * <p>The result lists section headers and key/value pairs in file order; sections carry over into and out of
 * included files because PgBouncer keeps one current section for the whole load.
 */
public final class IniParser {
    /**
     * The sections PgBouncer knows, then pgsvc's router sections ({@code hosts}, {@code services}, {@code router})
     * and its own {@code pgsvc}; any other is an error that fails the load. Names are case-sensitive.
     */
    public static final Set<String> SECTIONS =
            Set.of("pgbouncer", "databases", "users", "peers", "hosts", "services", "router", "pgsvc");

    /** PgBouncer's MAX_INCLUDE: the main file is level 0, so ten nested includes are allowed. */
    public static final int MAX_INCLUDE_DEPTH = 10;

    /**
     * One item of the file. A section header has {@code key == null} and {@code value == null}; every other entry
     * belongs to {@code section}.
     */
    public record Entry(String section, String key, String value, Path file, int line) {
        public boolean isSectionStart() {
            return key == null;
        }
    }

    private final List<Entry> entries = new ArrayList<>();
    private final Deque<Path> includeStack = new ArrayDeque<>();
    private String section;

    private IniParser() {
    }

    /** Parses {@code file} and everything it includes. */
    public static List<Entry> parse(Path file) throws ConfigException {
        IniParser parser = new IniParser();
        parser.parseFile(file, null, 0, 0);
        return Collections.unmodifiableList(parser.entries);
    }

    /** Where relative paths in the config point: PgBouncer opens them relative to its working directory. */
    static Path resolveAgainstCwd(String name) {
        return Path.of(System.getProperty("user.dir")).resolve(name);
    }

    private void parseFile(Path file, Path includer, int includerLine, int depth) throws ConfigException {
        Path absolute = file.isAbsolute() ? file : resolveAgainstCwd(file.toString());
        Path identity = absolute.normalize();
        if (includeStack.contains(identity)) {
            throw new ConfigException(includer, includerLine, "include loop: " + file + " is already being read");
        }
        String text;
        try {
            text = new String(Files.readAllBytes(absolute), StandardCharsets.UTF_8);
        } catch (IOException e) {
            String problem = "could not load file \"" + file + "\": " + describe(e);
            if (includer == null) {
                throw new ConfigException(file, problem, e);
            }
            throw new ConfigException(includer, includerLine, problem);
        }
        includeStack.push(identity);
        try {
            scan(file, text, depth);
        } finally {
            includeStack.pop();
        }
    }

    private void scan(Path file, String text, int depth) throws ConfigException {
        LineCounter lines = new LineCounter(text);
        int n = text.length();
        int p = 0;
        while (p < n) {
            while (p < n && isSpace(text.charAt(p))) {
                p++;
            }
            if (p >= n) {
                break;
            }
            int line = lines.lineAt(p);

            if (text.startsWith("%include", p) && p + 8 < n && isBlank(text.charAt(p + 8))) {
                if (depth >= MAX_INCLUDE_DEPTH) {
                    throw new ConfigException(file, line, "include nesting level too deep (more than "
                            + MAX_INCLUDE_DEPTH + " levels)");
                }
                p += 8;
                while (p < n && isBlank(text.charAt(p))) {
                    p++;
                }
                int start = p;
                p = endOfLine(text, p);
                String name = trimEnd(text.substring(start, p));
                if (name.isEmpty()) {
                    throw new ConfigException(file, line, "%include without a file name");
                }
                Path target;
                try {
                    target = Path.of(name);
                    target = target.isAbsolute() ? target : resolveAgainstCwd(name);
                } catch (InvalidPathException e) {
                    // A NUL byte, say: the file cannot exist, and it is this line's fault.
                    throw new ConfigException(file, line, "could not load file \"" + name + "\": invalid path");
                }
                parseFile(target, file, line, depth + 1);
                continue;
            }

            char c = text.charAt(p);
            if (c == '#' || c == ';') {
                p = endOfLine(text, p);
                continue;
            }

            if (c == '[') {
                int start = ++p;
                while (p < n && text.charAt(p) != ']' && text.charAt(p) != '\n') {
                    p++;
                }
                if (p >= n || text.charAt(p) != ']') {
                    throw new ConfigException(file, line, "syntax error: section header without closing \"]\"");
                }
                String name = text.substring(start, p);
                p++;
                if (!SECTIONS.contains(name)) {
                    throw new ConfigException(file, line, "unknown section: " + name);
                }
                section = name;
                entries.add(new Entry(name, null, null, file, line));
                continue;
            }

            String key;
            if (c == '\'') {
                int start = ++p;
                while (p < n && text.charAt(p) != '\'' && text.charAt(p) != '\n') {
                    p++;
                }
                if (p >= n || text.charAt(p) != '\'') {
                    throw new ConfigException(file, line, "syntax error: unterminated quoted key");
                }
                key = text.substring(start, p);
                p++;
                if (key.isEmpty()) {
                    throw new ConfigException(file, line, "syntax error: empty quoted key");
                }
            } else {
                int start = p;
                while (p < n && isKeyChar(text.charAt(p))) {
                    p++;
                }
                key = text.substring(start, p);
            }

            while (p < n && (text.charAt(p) == ' ' || text.charAt(p) == '\t')) {
                p++;
            }
            if (p >= n || text.charAt(p) != '=') {
                String seen = p >= n ? "end of file" : "\"" + text.charAt(p) + "\"";
                throw new ConfigException(file, line, key.isEmpty()
                        ? "syntax error: expected a key, found " + seen
                        : "syntax error: expected \"=\" after \"" + key + "\", found " + seen);
            }
            p++;
            while (p < n && (text.charAt(p) == ' ' || text.charAt(p) == '\t')) {
                p++;
            }
            int start = p;
            p = endOfLine(text, p);
            String value = trimEnd(text.substring(start, p));

            if (key.isEmpty()) {
                throw new ConfigException(file, line, "syntax error: empty key");
            }
            if (section == null) {
                throw new ConfigException(file, line, "value without section: " + key);
            }
            entries.add(new Entry(section, key, value, file, line));
        }
    }

    static String describe(IOException e) {
        String kind = e.getClass().getSimpleName();
        if (kind.equals("NoSuchFileException")) {
            return "no such file";
        }
        if (kind.equals("AccessDeniedException")) {
            return "permission denied";
        }
        return e.getMessage() != null ? e.getMessage() : kind;
    }

    private static int endOfLine(String text, int p) {
        int nl = text.indexOf('\n', p);
        return nl < 0 ? text.length() : nl;
    }

    private static String trimEnd(String s) {
        int end = s.length();
        while (end > 0 && isSpace(s.charAt(end - 1))) {
            end--;
        }
        return s.substring(0, end);
    }

    /** C {@code isspace} in the C locale. */
    static boolean isSpace(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0x0B;
    }

    private static boolean isBlank(char c) {
        return c == ' ' || c == '\t';
    }

    private static boolean isKeyChar(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || c == '_' || c == '.' || c == '-' || c == '*';
    }

    /** Line numbers for offsets, without rescanning the file for every entry. */
    private static final class LineCounter {
        private final String text;
        private int offset;
        private int line = 1;

        LineCounter(String text) {
            this.text = text;
        }

        /** Offsets are asked in increasing order during a scan. */
        int lineAt(int target) {
            while (offset < target) {
                if (text.charAt(offset++) == '\n') {
                    line++;
                }
            }
            return line;
        }
    }
}
