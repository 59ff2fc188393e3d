package pgsvc.protocol;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Benchmarks run without pgsvc's logging setup: keep Netty's start-up DEBUG lines out of the results. */
public final class QuietLogs {
    private QuietLogs() {
    }

    public static void apply() {
        ((LoggerContext) LoggerFactory.getILoggerFactory()).getLogger(Logger.ROOT_LOGGER_NAME).setLevel(Level.WARN);
    }
}
