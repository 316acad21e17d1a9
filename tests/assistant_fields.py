"""Test data shared by the SDK suites."""

# Every field of `assistants.create`, each set to a non-default value.
FULL_ASSISTANT = {
    "name": "Order follow-up",
    "prompt": "You call {{customer_name}} about order {{order_id}}. Be brief.",
    "background_sound": "audio/office.ogg",
    "calendly": {
        "connection_id": "conn_123",
        "event_type_id": "https://api.calendly.com/event_types/b2330295-2a91-4a1d-bb73-99e7707663d5",
    },
    "call_retry_config": {
        "calling_windows": [
            {"calling_window_start_time": "9am", "calling_window_end_time": "12:00", "retry_delay_seconds": 3600},
            {"calling_window_start_time": "14:00", "calling_window_end_time": "6:30pm", "retry_delay_seconds": 5400},
        ],
        "max_retry_attempts": 5,
        "timezone": "Europe/Paris",
    },
    "end_of_call_sentence": "Thanks {{customer_name}}, goodbye.",
    "faq_items": [
        {"question": "What are your opening hours?", "answer": "Nine to five, Monday to Friday."},
        {"question": "Where are you?", "answer": "In Paris."},
    ],
    "first_sentence": "Hello {{customer_name}}, this is the order desk.",
    "first_sentence_delay_ms": 750,
    "first_sentence_mode": "static",
    "ivr_navigation_enabled": True,
    "llm_model": {"type": "openrouter", "openrouter_model_id": "openai/gpt-4.1", "openrouter_provider": "openai"},
    "max_call_duration_secs": 900.5,
    "structured_output_config": [
        {"name": "email", "required": True, "type": "string", "description": "The customer's email"},
        {"name": "interest", "required": False, "type": "enum", "enum_options": ["low", "medium", "high"]},
        {"name": "callback_date", "required": False, "type": "date"},
    ],
    "transfer_phone_number": "+14155550123",
    "voice": {"id": "sandbox-en-amy", "provider": "cartesia", "speed": 1.25},
    "voicemail_message": "Please call us back, {{customer_name}}.",
    "webhook_url": "https://example.com/hooks/revox",
}
