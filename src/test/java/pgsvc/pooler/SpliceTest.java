package pgsvc.pooler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A changed batch goes out as one copied buffer up to the copy limit and as slices beyond it, with the same bytes
 * either way, and every buffer given to the splice ends up sent or released.
 */
class SpliceTest {
    private final List<ByteBuf> sent = new ArrayList<>();
    private final List<ByteBuf> given = new ArrayList<>();

    @AfterEach
    void everyBufferIsSentOrReleased() {
        sent.forEach(ByteBuf::release);
        for (ByteBuf b : given) {
            assertEquals(0, b.refCnt(), "a buffer given to the splice was neither sent nor released");
        }
    }

    @Test
    void anUnchangedBatchGoesOutAsItIs() {
        ByteBuf batch = buffer("0123456789");
        Splice out = new Splice(sent::add);
        out.begin(batch);
        out.finish(batch.writerIndex());
        assertEquals(1, sent.size());
        assertSame(batch, sent.get(0));
    }

    @Test
    void aSmallChangedBatchIsCopiedIntoOneBuffer() {
        ByteBuf batch = buffer("0123456789");
        edit(new Splice(sent::add), batch);
        assertEquals(1, sent.size(), "one buffer, so one send()");
        assertEquals("01ab3-4XY56789", text(sent));
        assertEquals(0, batch.refCnt());
    }

    @Test
    void aBatchOverTheLimitGoesOutAsSlicesAndNewBytes() {
        ByteBuf batch = buffer("0123456789");
        edit(new Splice(sent::add, 4), batch);
        // 01, ab, 3, -, 4, XY, 56789: nothing copied.
        assertEquals(7, sent.size());
        assertEquals("01ab3-4XY56789", text(sent));
        // The slices hold the batch until they are released.
        assertEquals(4, batch.refCnt());
    }

    /** Copied (the default limit) or sliced (limit 0). */
    @ParameterizedTest(name = "copy limit {0}")
    @ValueSource(ints = {Splice.COPY_LIMIT, 0})
    void bytesWrittenInPlaceGoOutBeforeWhatFollowsThem(int limit) {
        ByteBuf batch = buffer("0123456789");
        Splice out = new Splice(sent::add, limit);
        out.begin(batch);
        out.replacing(1, 2, 2).writeBytes("ab".getBytes(StandardCharsets.US_ASCII));
        out.replace(3, 3, buffer("-"));
        out.replacing(4, 5, 1).writeByte('c');
        out.finish(batch.writerIndex());
        assertEquals("0ab2-3c56789", text(sent));
        assertEquals(limit == 0 ? 7 : 1, sent.size());
        assertReleasedWithWhatWasSent(batch);
    }

    @ParameterizedTest(name = "copy limit {0}")
    @ValueSource(ints = {Splice.COPY_LIMIT, 0})
    void whatComesAfterTheEndIsDropped(int limit) {
        ByteBuf batch = buffer("0123456789");
        Splice out = new Splice(sent::add, limit);
        out.begin(batch);
        out.replace(2, 4, null);
        out.finish(6);
        assertEquals("0145", text(sent));
        assertReleasedWithWhatWasSent(batch);
    }

    @Test
    void aCopyGrowsPastWhatItFirstHadRoomFor() {
        String big = "x".repeat(1000);
        ByteBuf batch = buffer("0123456789");
        Splice out = new Splice(sent::add);
        out.begin(batch);
        out.replace(1, 2, buffer(big));
        out.replacing(3, 4, 1000).writeBytes(big.getBytes(StandardCharsets.US_ASCII));
        out.finish(batch.writerIndex());
        assertEquals("0" + big + "2" + big + "456789", text(sent));
    }

    /** Once what was sent is released, nothing holds the batch any more. */
    private void assertReleasedWithWhatWasSent(ByteBuf batch) {
        sent.forEach(ByteBuf::release);
        sent.clear();
        assertEquals(0, batch.refCnt());
    }

    /** Replaces 2 with "ab", inserts "-" before 4, writes "XY" in place of nothing at 5. */
    private void edit(Splice out, ByteBuf batch) {
        out.begin(batch);
        out.replace(2, 3, buffer("ab"));
        out.insert(4, buffer("-"));
        out.replacing(5, 5, 2).writeBytes("XY".getBytes(StandardCharsets.US_ASCII));
        out.finish(batch.writerIndex());
    }

    private ByteBuf buffer(String s) {
        byte[] bytes = s.getBytes(StandardCharsets.US_ASCII);
        ByteBuf b = PooledByteBufAllocator.DEFAULT.directBuffer(bytes.length).writeBytes(bytes);
        given.add(b);
        return b;
    }

    private static String text(List<ByteBuf> bufs) {
        StringBuilder s = new StringBuilder();
        for (ByteBuf b : bufs) {
            s.append(b.toString(StandardCharsets.US_ASCII));
        }
        return s.toString();
    }
}
