package pgsvc.testing;

import java.util.List;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What an external command did: exit code and both output streams, plus parsers for pgbench's summary.
 *
 * @param timedOut true if the command was killed because it outlived its timeout (exitCode is then -1)
 */
public record ProcResult(List<String> command, int exitCode, String stdout, String stderr, boolean timedOut) {

    private static final Pattern TPS = Pattern.compile("(?m)^tps = ([0-9.]+)");
    private static final Pattern FAILED = Pattern.compile("(?m)^number of failed transactions: (\\d+)");
    private static final Pattern PROCESSED =
            Pattern.compile("(?m)^number of transactions actually processed: (\\d+)(?:/(\\d+))?");

    public ProcResult {
        command = List.copyOf(command);
    }

    public boolean ok() {
        return exitCode == 0 && !timedOut;
    }

    /** Returns this result, or throws with the command and its output if it did not exit 0. */
    public ProcResult orThrow() {
        if (!ok()) {
            throw new IllegalStateException(describe());
        }
        return this;
    }

    /** Trimmed stdout of a successful command: what psql -A -t printed. */
    public String value() {
        return orThrow().stdout.trim();
    }

    /** pgbench's tps; the last line wins so that pgbench before 14 reports the rate excluding connection setup. */
    public double tps() {
        Matcher m = TPS.matcher(stdout);
        String last = null;
        while (m.find()) {
            last = m.group(1);
        }
        if (last == null) {
            throw new IllegalStateException("no 'tps = ' line in pgbench output\n" + describe());
        }
        return Double.parseDouble(last);
    }

    /** pgbench 15's "number of failed transactions: N". */
    public long failedTransactions() {
        return Long.parseLong(group(FAILED, 1, "number of failed transactions"));
    }

    /** N of "number of transactions actually processed: N[/M]". */
    public long processedTransactions() {
        return Long.parseLong(group(PROCESSED, 1, "number of transactions actually processed"));
    }

    /** M of "number of transactions actually processed: N/M"; absent for a timed (-T) run. */
    public OptionalLong plannedTransactions() {
        Matcher m = PROCESSED.matcher(stdout);
        if (!m.find() || m.group(2) == null) {
            return OptionalLong.empty();
        }
        return OptionalLong.of(Long.parseLong(m.group(2)));
    }

    public String describe() {
        return String.join(" ", command) + "\n-> " + (timedOut ? "timed out" : "exit " + exitCode)
                + "\n--- stdout\n" + stdout + "\n--- stderr\n" + stderr;
    }

    private String group(Pattern pattern, int group, String what) {
        Matcher m = pattern.matcher(stdout);
        if (!m.find()) {
            throw new IllegalStateException("no '" + what + "' line in pgbench output\n" + describe());
        }
        return m.group(group);
    }
}
