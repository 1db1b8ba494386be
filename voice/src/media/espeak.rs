//! The only place that calls espeak-ng's C API (through `espeak-rs-sys`). The safe `espeak-rs`
//! 0.2 crate only converts text to phonemes, it cannot give us audio; and nothing in the
//! process may call it, because on first use it initialises espeak-ng itself (retrieval mode,
//! data found through an environment variable or the working directory) and sets the voice
//! from whatever thread calls it, behind the worker's back.
//!
//! espeak-ng keeps global state, so an [`Espeak`] must live on one thread for its whole life:
//! `tts` creates it on its worker thread and never moves it (it is `!Send`). Must not be used
//! from async code.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ffi::{CString, c_int, c_short};
use std::marker::PhantomData;
use std::path::Path;

use espeak_rs_sys as sys;

use super::tts::TtsError;

thread_local! {
    /// Where the synthesis callback appends samples; only the worker thread touches it.
    static SINK: RefCell<Vec<i16>> = const { RefCell::new(Vec::new()) };
}

/// An initialised espeak-ng on the current thread.
pub(crate) struct Espeak {
    sample_rate: u32,
    /// espeak's state is per process and must stay on the thread that initialised it.
    _not_send: PhantomData<*const ()>,
}

impl Espeak {
    /// Initialises espeak-ng in synchronous mode with its data at `data_dir` (the directory
    /// holding `espeak-ng-data`, or that directory itself) and selects the English voice.
    pub(crate) fn init(data_dir: &Path) -> Result<Espeak, TtsError> {
        let path = CString::new(data_dir.as_os_str().as_encoded_bytes()).map_err(|_| {
            TtsError::DataNotFound {
                path: data_dir.to_path_buf(),
            }
        })?;
        // SAFETY: `path` is a valid NUL-terminated string that outlives the call (espeak copies
        // it into its own buffer). DONT_EXIT makes espeak return an error instead of calling
        // exit() when the data is missing. Callers keep all espeak calls on this thread.
        let rate = unsafe {
            sys::espeak_Initialize(
                sys::espeak_AUDIO_OUTPUT_AUDIO_OUTPUT_SYNCHRONOUS,
                0,
                path.as_ptr(),
                sys::espeakINITIALIZE_DONT_EXIT as c_int,
            )
        };
        if rate <= 0 {
            return Err(TtsError::Init {
                path: data_dir.to_path_buf(),
                code: rate,
            });
        }
        // SAFETY: `on_samples` matches espeak's callback signature and only touches the
        // thread-local sink; espeak calls it synchronously from espeak_Synth on this thread.
        unsafe { sys::espeak_SetSynthCallback(Some(on_samples)) };
        let voice = c"en";
        // SAFETY: `voice` is a static NUL-terminated string; espeak is initialised above.
        let status = unsafe { sys::espeak_SetVoiceByName(voice.as_ptr()) };
        if status != sys::espeak_ERROR_EE_OK {
            return Err(TtsError::Voice { code: status });
        }
        Ok(Espeak {
            sample_rate: rate as u32,
            _not_send: PhantomData,
        })
    }

    /// espeak's output rate (22050 Hz for the bundled voices).
    pub(crate) fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Speaks `text` and returns mono samples at [`Espeak::sample_rate`].
    pub(crate) fn synth(&mut self, text: &str) -> Result<Vec<i16>, TtsError> {
        let text = CString::new(text).map_err(|_| TtsError::TextHasNul)?;
        SINK.with_borrow_mut(Vec::clear);
        let bytes = text.as_bytes_with_nul();
        // SAFETY: `text` is valid UTF-8, NUL-terminated and outlives the call; in synchronous
        // mode espeak_Synth returns only after every callback ran, so nothing keeps the
        // pointer. Null user data and unique-id pointers are allowed by speak_lib.h.
        let status = unsafe {
            sys::espeak_Synth(
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
                sys::espeak_POSITION_TYPE_POS_CHARACTER,
                0,
                // ENDPAUSE: a clause pause after the last word, as the espeak-ng CLI does.
                sys::espeakCHARS_UTF8 | sys::espeakENDPAUSE,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if status != sys::espeak_ERROR_EE_OK {
            return Err(TtsError::Synth { code: status });
        }
        // SAFETY: no pointers are passed; it only waits for (already finished) synthesis.
        unsafe { sys::espeak_Synchronize() };
        Ok(SINK.with_borrow_mut(std::mem::take))
    }
}

/// espeak's synthesis callback: `wav` holds `n` samples, or is null at the end.
unsafe extern "C" fn on_samples(
    wav: *mut c_short,
    n: c_int,
    _events: *mut sys::espeak_EVENT,
) -> c_int {
    if !wav.is_null() && n > 0 {
        // SAFETY: espeak guarantees `wav` points at `n` valid samples for this call; we copy
        // them out before returning and keep no reference.
        let samples = unsafe { std::slice::from_raw_parts(wav, n as usize) };
        SINK.with_borrow_mut(|sink| sink.extend_from_slice(samples));
    }
    0 // continue synthesis
}
