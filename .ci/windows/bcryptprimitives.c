/*
 * A stand-in for Windows' bcryptprimitives.dll, for running wasmpod.exe
 * under Debian 12's wine64 (8.0), which lacks the DLL. Rust's standard
 * library (since 1.78) takes its random bytes from ProcessPrng in this DLL;
 * without it the process cannot start. This one exports ProcessPrng over
 * advapi32's RtlGenRandom (SystemFunction036), which wine has.
 * Built by .ci/cross-windows.sh with mingw; not part of wasmpod itself.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!SystemFunction036(data, chunk))
			return FALSE;
		data += chunk;
		len -= chunk;
	}
	return TRUE;
}
