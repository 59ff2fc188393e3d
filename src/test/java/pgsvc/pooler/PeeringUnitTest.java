package pgsvc.pooler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;

import org.junit.jupiter.api.Test;

/** The cancel key layout PgBouncer 1.21+ peers read: peer_id in bytes 2-3 (little-endian), TTL in the last two bits. */
class PeeringUnitTest {
    private static byte[] bytes(long key) {
        return ByteBuffer.allocate(8).putLong(key).array();
    }

    @Test
    void thePeerIdGoesIntoTheSecondAndThirdByteLittleEndian() {
        long key = Peering.encode(0x1122334455667788L, 0x0102);
        assertArrayEquals(new byte[] {0x11, 0x02, 0x01, 0x44, 0x55, 0x66, 0x77, (byte) 0x8B}, bytes(key));
        assertEquals(0x0102, Peering.peerId(key));
    }

    @Test
    void everyOtherBitStaysRandomAndTheTtlStartsAtThree() {
        long key = Peering.encode(-1L, 16383);
        assertArrayEquals(new byte[] {(byte) 0xFF, (byte) 0xFF, 0x3F, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF,
            (byte) 0xFF, (byte) 0xFF}, bytes(key));
        assertEquals(16383, Peering.peerId(key));
        assertEquals(3, Peering.encode(0L, 1) & Peering.TTL_MASK);
        assertEquals(65535, Peering.peerId(Peering.encode(0L, 65535)));
    }
}
