package pgsvc.router;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.FileAppender;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sets up logback from pooler.ini's logfile and verbose, in PgBouncer's line format
 * ({@code 2026-01-01 12:00:00.000 UTC [pid] LOG message}) so that log-based tooling keeps working.
 */
final class Logging {
    private static final String PATTERN = "%d{yyyy-MM-dd HH:mm:ss.SSS z} [" + ProcessHandle.current().pid() + "] "
            + "%replace(%replace(%level){'INFO','LOG'}){'WARN','WARNING'} %msg%n";

    private Logging() {
    }

    static void configure(String logfile, int verbose, boolean quiet) {
        LoggerContext ctx = (LoggerContext) LoggerFactory.getILoggerFactory();
        ctx.reset();
        ch.qos.logback.classic.Logger root = ctx.getLogger(Logger.ROOT_LOGGER_NAME);
        root.setLevel(verbose <= 0 ? Level.INFO : verbose == 1 ? Level.DEBUG : Level.TRACE);
        ctx.getLogger("io.netty").setLevel(verbose >= 3 ? Level.DEBUG : Level.INFO);
        if (!quiet) {
            ConsoleAppender<ILoggingEvent> console = new ConsoleAppender<>();
            console.setContext(ctx);
            console.setTarget("System.err");
            console.setEncoder(encoder(ctx));
            console.start();
            root.addAppender(console);
        }
        if (logfile != null && !logfile.isEmpty()) {
            FileAppender<ILoggingEvent> file = new FileAppender<>();
            file.setContext(ctx);
            file.setFile(logfile);
            file.setAppend(true);
            file.setEncoder(encoder(ctx));
            file.start();
            root.addAppender(file);
        }
    }

    private static PatternLayoutEncoder encoder(LoggerContext ctx) {
        PatternLayoutEncoder encoder = new PatternLayoutEncoder();
        encoder.setContext(ctx);
        encoder.setPattern(PATTERN);
        encoder.start();
        return encoder;
    }
}
