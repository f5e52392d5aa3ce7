//! Fine-tunes the last layer of the pre-trained digits model to an unseen writer on the device (see
//! `finetune::FINETUNE_LAST`; Cortex-M4F boards only).
#![no_std]
#![no_main]

embedgrad_firmware::firmware!(embedgrad_firmware::finetune::FINETUNE_LAST);
