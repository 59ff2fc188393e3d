package pgsvc.router;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.net.SyslogAppender;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.Appender;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.FileAppender;
import ch.qos.logback.core.LayoutBase;
import ch.qos.logback.core.encoder.LayoutWrappingEncoder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.pooler.config.Config;

/**
 * Sets up logback from pooler.ini's logfile, verbose and syslog settings, in PgBouncer's line format
 * ({@code 2026-01-01 12:00:00.000 UTC [pid] LOG message}) so that log-based tooling keeps working.
 */
final class Logging {
    private static final java.time.format.DateTimeFormatter SECOND =
            java.time.format.DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss");
    private static final java.time.format.DateTimeFormatter ZONE = java.time.format.DateTimeFormatter.ofPattern("z");

    private Logging() {
    }

    /** PgBouncer's syslog_facility names; another value falls back to daemon, with a warning. */
    private static final java.util.Set<String> FACILITIES = java.util.Set.of("auth", "authpriv", "daemon", "user",
            "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7");

    private static final String FILE = "logfile";
    private static final String SYSLOG = "syslog";

    /** The command line's -v count and -q, kept for RELOAD; null until {@link #configure} ran. */
    private static CommandLine commandLine;

    private record CommandLine(int verbose, boolean quiet) {
    }

    /**
     * Logging as the configuration and the command line ask: stderr unless quiet, the logfile, and syslog when
     * {@code syslog = 1}; the level from the file's verbose or -v, whichever says more.
     */
    static synchronized void configure(Config config, int verbose, boolean quiet) {
        commandLine = new CommandLine(verbose, quiet);
        LoggerContext ctx = (LoggerContext) LoggerFactory.getILoggerFactory();
        ctx.reset();
        ch.qos.logback.classic.Logger root = ctx.getLogger(Logger.ROOT_LOGGER_NAME);
        levels(ctx, Math.max(verbose, config.verbose()));
        if (!quiet) {
            ConsoleAppender<ILoggingEvent> console = new ConsoleAppender<>();
            console.setContext(ctx);
            console.setTarget("System.err");
            console.setEncoder(encoder(ctx));
            console.start();
            root.addAppender(console);
        }
        openFileAndSyslog(ctx, config);
    }

    /**
     * RELOAD and SIGHUP, as PgBouncer does them: the logfile is opened again, so that after logrotate moved it the
     * lines go to a new file under the configured name, and logfile, verbose and the syslog settings take their new
     * values. Nothing happens in a process that did not {@link #configure} logging (pgsvc inside a test's JVM).
     */
    static synchronized void reopen(Config config) {
        CommandLine c = commandLine;
        if (c == null) {
            return;
        }
        LoggerContext ctx = (LoggerContext) LoggerFactory.getILoggerFactory();
        ch.qos.logback.classic.Logger root = ctx.getLogger(Logger.ROOT_LOGGER_NAME);
        levels(ctx, Math.max(c.verbose(), config.verbose()));
        // Closed before the new ones open: logback refuses two appenders on one file. A line logged in between
        // reaches stderr only.
        for (String name : new String[] {FILE, SYSLOG}) {
            Appender<ILoggingEvent> old = root.getAppender(name);
            if (old != null) {
                root.detachAppender(old);
                old.stop();
            }
        }
        openFileAndSyslog(ctx, config);
    }

    private static void levels(LoggerContext ctx, int verbose) {
        ctx.getLogger(Logger.ROOT_LOGGER_NAME)
                .setLevel(verbose <= 0 ? Level.INFO : verbose == 1 ? Level.DEBUG : Level.TRACE);
        ctx.getLogger("io.netty").setLevel(verbose >= 3 ? Level.DEBUG : Level.INFO);
    }

    private static void openFileAndSyslog(LoggerContext ctx, Config config) {
        String logfile = config.logfile();
        if (logfile != null && !logfile.isEmpty()) {
            FileAppender<ILoggingEvent> file = new FileAppender<>();
            file.setContext(ctx);
            file.setName(FILE);
            file.setFile(logfile);
            file.setAppend(true);
            file.setEncoder(encoder(ctx));
            file.start();
            ctx.getLogger(Logger.ROOT_LOGGER_NAME).addAppender(file);
        }
        if (config.getBool("syslog")) {
            syslog(config.get("syslog_ident"), config.get("syslog_facility"));
        }
    }

    /**
     * {@code syslog = 1}: each line also goes to the local syslog daemon as {@code ident[pid]: LOG message} with the
     * given facility. PgBouncer writes to the {@code /dev/log} socket; logback speaks syslog over UDP only, so here
     * the lines go to localhost port 514, where rsyslog or syslog-ng must listen (rsyslog's imudp module).
     */
    static void syslog(String ident, String facility) {
        LoggerContext ctx = (LoggerContext) LoggerFactory.getILoggerFactory();
        String name = facility == null ? "" : facility.trim().toLowerCase(java.util.Locale.ROOT);
        if (!FACILITIES.contains(name)) {
            LoggerFactory.getLogger(Logging.class).warn("unknown syslog_facility \"{}\", using daemon", facility);
            name = "daemon";
        }
        SyslogAppender syslog = new SyslogAppender();
        syslog.setContext(ctx);
        syslog.setName(SYSLOG);
        syslog.setSyslogHost("localhost");
        syslog.setPort(514);
        syslog.setFacility(name.toUpperCase(java.util.Locale.ROOT));
        // The suffix is a logback pattern: % and \ in the ident are literal text.
        String literal = (ident == null || ident.isEmpty() ? "pgbouncer" : ident).replace("\\", "\\\\")
                .replace("%", "\\%");
        syslog.setSuffixPattern(literal + "[" + ProcessHandle.current().pid() + "]: "
                + "%replace(%replace(%level){'INFO','LOG'}){'WARN','WARNING'} %msg");
        syslog.start();
        ctx.getLogger(Logger.ROOT_LOGGER_NAME).addAppender(syslog);
    }

    private static LayoutWrappingEncoder<ILoggingEvent> encoder(LoggerContext ctx) {
        PgBouncerLayout layout = new PgBouncerLayout();
        layout.setContext(ctx);
        layout.start();
        LayoutWrappingEncoder<ILoggingEvent> encoder = new LayoutWrappingEncoder<>();
        encoder.setContext(ctx);
        encoder.setLayout(layout);
        encoder.start();
        return encoder;
    }

    /**
     * PgBouncer's line, {@code 2026-01-01 12:00:00.000 UTC [pid] LOG message}, with WARNING for WARN and the stack
     * trace after the line when there is one. Written out directly: a PatternLayout parses its pattern and loads
     * a converter class per element at startup, which costs a tenth of a second before pgsvc listens.
     */
    static final class PgBouncerLayout extends LayoutBase<ILoggingEvent> {
        private final String pid = " [" + ProcessHandle.current().pid() + "] ";
        /**
         * The date, time and zone of the latest second logged: java.time's formatter allocates a few kilobytes a
         * line (a BigDecimal for the fraction among them), which at a login burst was a third of each login's garbage.
         */
        private volatile Second second;

        private record Second(long epochSecond, String dateTime, String zone) {
        }

        @Override
        public String doLayout(ILoggingEvent event) {
            StringBuilder line = new StringBuilder(128);
            long millis = event.getTimeStamp();
            long epochSecond = Math.floorDiv(millis, 1000);
            Second s = second;
            if (s == null || s.epochSecond() != epochSecond) {
                java.time.ZonedDateTime time = java.time.Instant.ofEpochSecond(epochSecond)
                        .atZone(java.time.ZoneId.systemDefault());
                s = new Second(epochSecond, SECOND.format(time), ZONE.format(time));
                second = s;
            }
            int milli = (int) Math.floorMod(millis, 1000);
            line.append(s.dateTime()).append('.').append((char) ('0' + milli / 100))
                    .append((char) ('0' + milli / 10 % 10)).append((char) ('0' + milli % 10)).append(' ')
                    .append(s.zone());
            line.append(pid).append(level(event.getLevel())).append(' ').append(event.getFormattedMessage());
            line.append(System.lineSeparator());
            IThrowableProxy thrown = event.getThrowableProxy();
            if (thrown != null) {
                line.append(ThrowableProxyUtil.asString(thrown)).append(System.lineSeparator());
            }
            return line.toString();
        }

        private static String level(Level level) {
            return switch (level.toInt()) {
                case Level.INFO_INT -> "LOG";
                case Level.WARN_INT -> "WARNING";
                default -> level.toString();
            };
        }
    }
}
