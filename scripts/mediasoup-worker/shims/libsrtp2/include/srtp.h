// Bridges mediasoup 3.15's libsrtp 3.0-alpha API onto libsrtp 2.5 (Debian's source, built on OpenSSL).
#pragma once
#include <srtp2/srtp.h>
#ifdef __cplusplus
#include <climits>
#include <cstddef>

inline srtp_err_status_t fourcast_srtp_len_call(
  srtp_err_status_t (*fn)(srtp_t, void*, int*), srtp_t ctx, void* buf, size_t* len)
{
	if (*len > static_cast<size_t>(INT_MAX))
		return srtp_err_status_bad_param;
	int n = static_cast<int>(*len);
	const srtp_err_status_t err = fn(ctx, buf, &n);
	if (n >= 0)
		*len = static_cast<size_t>(n);
	return err;
}
inline srtp_err_status_t srtp_protect(srtp_t ctx, void* buf, size_t* len)
{
	return fourcast_srtp_len_call(::srtp_protect, ctx, buf, len);
}
inline srtp_err_status_t srtp_unprotect(srtp_t ctx, void* buf, size_t* len)
{
	return fourcast_srtp_len_call(::srtp_unprotect, ctx, buf, len);
}
inline srtp_err_status_t srtp_protect_rtcp(srtp_t ctx, void* buf, size_t* len)
{
	return fourcast_srtp_len_call(::srtp_protect_rtcp, ctx, buf, len);
}
inline srtp_err_status_t srtp_unprotect_rtcp(srtp_t ctx, void* buf, size_t* len)
{
	return fourcast_srtp_len_call(::srtp_unprotect_rtcp, ctx, buf, len);
}
inline srtp_err_status_t srtp_stream_remove(srtp_t ctx, uint32_t ssrc)
{
	return srtp_remove_stream(ctx, ssrc);
}
#endif
