package pgsvc.pooler.config;

import java.nio.file.Path;

/**
 * A configuration or auth file that cannot be loaded. The message always says where, so that an operator reading one
 * log line can fix the file: {@code <path>:<line>: <problem>}, or {@code <path>: <problem>} when no line applies.
 */
public final class ConfigException extends Exception {
    private static final long serialVersionUID = 1L;

    private final Path file;
    private final int line;
    private final String problem;

    public ConfigException(Path file, int line, String problem) {
        super(file + ":" + line + ": " + problem);
        this.file = file;
        this.line = line;
        this.problem = problem;
    }

    public ConfigException(Path file, String problem) {
        super(file + ": " + problem);
        this.file = file;
        this.line = 0;
        this.problem = problem;
    }

    public ConfigException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
        this.line = 0;
        this.problem = problem;
    }

    /** The file at fault (for an error inside an included file, the included file). */
    public Path file() {
        return file;
    }

    /** 1-based line number, or 0 when the problem concerns the whole file. */
    public int line() {
        return line;
    }

    /** The problem without the location prefix. */
    public String problem() {
        return problem;
    }
}
